"""Adaptive discriminator augmentation (ADA; Karras et al. 2020).

arXiv:2006.06676. Every image D sees (real or generated, in D's and G's
steps) goes through a pipeline of transforms, each applied to each image
with probability p. With p < 1 the transforms do not leak into the
generated images: G cannot match an augmented distribution with clean
images unless it produces the clean one. p adapts to how much D overfits,
r_t = E[sign(D(real))], measured over a few D steps: above the target
(0.6) D is too sure of the reals and p rises, below it p falls, at a speed
that could take p from 0 to 1 in 500k images.

The pipeline here has the paper's three strongest groups (its "bgc"):
pixel blitting (x-flip, 90-degree rotations, integer translation),
general geometric (isotropic scale, rotation, anisotropic scale,
fractional translation) and colour (brightness, contrast, luma flip, hue
rotation, saturation). The geometric transforms are composed into one
3x3 matrix per image and the image is resampled once, bilinearly with
reflect padding (the paper uses a wavelet filter to avoid aliasing;
bilinear is cheaper and aliases a little when it shrinks). Maps aligned
with the image (label maps, sketches) take the same matrix with
nearest-neighbour sampling, so labels stay labels; colour touches only
the image.

`draw_values` draws every transform's parameter (its identity where the
image skips it), `geometric_matrices` and `colour_matrices` turn them into
matrices and `ada_augment` applies them, so tests fix each parameter.
"""

import math
from typing import Dict, Sequence, Tuple

import tensorflow as tf

# The paper's strengths (its Appendix B and augment.py defaults).
INT_TRANSLATE_MAX = 0.125  # Of the side, uniform.
SCALE_STD = 0.2 * math.log(2)  # log-normal, isotropic and anisotropic.
FRAC_TRANSLATE_STD = 0.125  # Of the side, normal.
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5 * math.log(2)
SATURATION_STD = math.log(2)
# A Python value, not a tensor: a tensor made at import would start
# TensorFlow's runtime before a multi-worker strategy configures it.
_LUMA_AXIS = (1 / math.sqrt(3.0),) * 3

Values = Dict[str, tf.Tensor]


def draw_values(p: tf.Tensor, batch, size: int) -> Values:
  """Each transform's float32 [B] (translations [B, 2], in pixels) value.

  Each image takes each transform with probability p, else its identity
  (0 or 1); the two rotations with 1 - sqrt(1 - p) each, so that the
  image is rotated with probability p (as the paper).
  """
  p = tf.cast(p, tf.float32)
  uniform = lambda: tf.random.uniform([batch])

  def sometimes(value, identity, prob=p):
    keep = uniform() < prob
    if value.shape.rank == 2:
      keep = keep[:, None]
    return tf.where(keep, value, identity * tf.ones_like(value))

  log_normal = lambda std: tf.exp(tf.random.normal([batch]) * std)
  rotate_p = 1.0 - tf.sqrt(1.0 - p)
  shift = tf.round(tf.random.uniform([batch, 2], -1, 1) *
                   INT_TRANSLATE_MAX * size)
  coin = lambda n: tf.cast(tf.random.uniform([batch], 0, n, tf.int32),
                           tf.float32)
  angle = lambda: tf.random.uniform([batch], -math.pi, math.pi)
  return {
      "xflip": sometimes(coin(2), 0.0),
      "rotate90": sometimes(coin(4), 0.0),
      "int_translate": sometimes(shift, 0.0),
      "iso_scale": sometimes(log_normal(SCALE_STD), 1.0),
      "pre_rotate": sometimes(angle(), 0.0, rotate_p),
      "aniso_scale": sometimes(log_normal(SCALE_STD), 1.0),
      "post_rotate": sometimes(angle(), 0.0, rotate_p),
      "frac_translate": sometimes(
          tf.random.normal([batch, 2]) * FRAC_TRANSLATE_STD * size, 0.0),
      "brightness": sometimes(tf.random.normal([batch]) * BRIGHTNESS_STD, 0.0),
      "contrast": sometimes(log_normal(CONTRAST_STD), 1.0),
      "luma_flip": sometimes(coin(2), 0.0),
      "hue": sometimes(angle(), 0.0),
      "saturation": sometimes(log_normal(SATURATION_STD), 1.0),
  }


def _matrix(rows) -> tf.Tensor:
  """Nested lists of [B] tensors (or floats) -> [B, n, n]."""
  return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)


def _rotation(angle):
  c, s = tf.cos(angle), tf.sin(angle)
  z, o = tf.zeros_like(angle), tf.ones_like(angle)
  return _matrix([[c, -s, z], [s, c, z], [z, z, o]])


def _scale(sx, sy):
  z, o = tf.zeros_like(sx), tf.ones_like(sx)
  return _matrix([[sx, z, z], [z, sy, z], [z, z, o]])


def _translation(t):
  z, o = tf.zeros_like(t[:, 0]), tf.ones_like(t[:, 0])
  return _matrix([[o, z, t[:, 0]], [z, o, t[:, 1]], [z, z, o]])


def geometric_matrices(values: Values) -> tf.Tensor:
  """[B, 3, 3]: output pixel (x, y, 1), centred -> where to sample it.

  The transforms compose in the paper's order; each distribution is
  symmetric, so drawing a transform or its inverse is the same.
  """
  v = values
  steps = [_scale(1.0 - 2.0 * v["xflip"], tf.ones_like(v["xflip"])),
           _rotation(v["rotate90"] * (math.pi / 2)),
           _translation(v["int_translate"]),
           _scale(v["iso_scale"], v["iso_scale"]),
           _rotation(v["pre_rotate"]),
           _scale(v["aniso_scale"], 1.0 / v["aniso_scale"]),
           _rotation(v["post_rotate"]),
           _translation(v["frac_translate"])]
  matrix = steps[0]
  for step in steps[1:]:
    matrix = matrix @ step
  return matrix


def colour_matrices(values: Values) -> tf.Tensor:
  """[B, 4, 4] acting on (r, g, b, 1) of [-1, 1] pixels, the paper's
  brightness, contrast, luma flip, hue rotation and saturation in order."""
  v = values
  batch = tf.shape(v["brightness"])[0]
  eye = tf.eye(4, batch_shape=[batch])
  axis = tf.constant(_LUMA_AXIS + (0.0,), tf.float32)
  outer = axis[:, None] * axis[None, :]  # [4, 4]: v v^T.
  b = v["brightness"][:, None, None]
  brightness = eye + tf.pad(tf.tile(b, [1, 3, 1]), [[0, 0], [0, 1], [3, 0]])
  contrast = tf.linalg.diag(tf.stack(
      [v["contrast"]] * 3 + [tf.ones_like(v["contrast"])], axis=-1))
  luma_flip = eye - 2.0 * outer * v["luma_flip"][:, None, None]
  theta = v["hue"][:, None, None]
  cross = tf.constant([[0.0, -1.0, 1.0, 0.0], [1.0, 0.0, -1.0, 0.0],
                       [-1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
                      ) / math.sqrt(3.0)  # [v]_x for the luma axis.
  rgb = tf.linalg.diag([1.0, 1.0, 1.0, 0.0])
  # Rodrigues about the luma axis; (r, g, b, 1)'s 1 stays 1.
  hue = (eye - rgb + tf.cos(theta) * rgb + tf.sin(theta) * cross +
         (1.0 - tf.cos(theta)) * outer)
  s = v["saturation"][:, None, None]
  saturation = outer + (eye - outer) * s
  saturation = saturation + (1.0 - s) * (eye - rgb)  # Keep the 1.
  matrix = brightness
  for step in (contrast, luma_flip, hue, saturation):
    matrix = step @ matrix
  return matrix


def _reflect(u: tf.Tensor, size: int) -> tf.Tensor:
  """Reflects coordinates into [0, size - 1] about the border pixels."""
  period = 2.0 * (size - 1)
  u = tf.math.floormod(u, period)
  return tf.minimum(u, period - u)


def resample(x: tf.Tensor, matrix: tf.Tensor, nearest: bool = False
             ) -> tf.Tensor:
  """out[b, y, x] = x[b] at matrix[b] @ (x - c, y - c, 1) + c, reflected.

  c is the image centre; bilinear, or nearest-neighbour for maps whose
  values must not mix (labels). Differentiable in `x`.
  """
  size = x.shape[1]
  centre = (size - 1) / 2.0
  grid = tf.range(size, dtype=tf.float32) - centre
  gy, gx = tf.meshgrid(grid, grid, indexing="ij")
  points = tf.stack([gx, gy, tf.ones_like(gx)], -1)  # [S, S, 3]
  source = tf.einsum("bij,yxj->byxi", matrix, points)[..., :2] + centre
  source = _reflect(source, size)  # [B, S, S, 2] as (x, y).
  gather = lambda ix, iy: tf.gather_nd(x, tf.stack([iy, ix], -1),
                                       batch_dims=1)
  if nearest:
    index = tf.cast(tf.round(source), tf.int32)
    return gather(index[..., 0], index[..., 1])
  low = tf.floor(source)
  weight = tf.cast(source - low, x.dtype)
  x0, y0 = (tf.cast(low[..., i], tf.int32) for i in (0, 1))
  x1, y1 = tf.minimum(x0 + 1, size - 1), tf.minimum(y0 + 1, size - 1)
  wx, wy = weight[..., :1], weight[..., 1:]
  top = gather(x0, y0) * (1 - wx) + gather(x1, y0) * wx
  bottom = gather(x0, y1) * (1 - wx) + gather(x1, y1) * wx
  return top * (1 - wy) + bottom * wy


def recolour(image: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
  """RGB [B, S, S, 3] through the colour matrices [B, 4, 4]."""
  return (tf.einsum("bij,byxj->byxi", matrix[:, :3, :3], image) +
          matrix[:, None, None, :3, 3])


def ada_augment(image: tf.Tensor, values: Values,
                conditions: Sequence[tf.Tensor] = ()
                ) -> Tuple[tf.Tensor, Tuple[tf.Tensor, ...]]:
  """(image, conditions) through the transforms of `values`.

  The image (RGB on [-1, 1], any float dtype; float32 math inside) is
  resampled and recoloured; the aligned maps are resampled with the same
  matrices, nearest-neighbour, and keep their dtype.
  """
  x = tf.cast(image, tf.float32)
  geometric = geometric_matrices(values)
  x = recolour(resample(x, geometric), colour_matrices(values))
  maps = tuple(resample(m, geometric, nearest=True) for m in conditions)
  return tf.cast(x, image.dtype), maps


class AdaptiveProbability(tf.Module):
  """ADA's p and the overfitting heuristic's running sums.

  The steps add each replica's sum of per-image sign(D(real)) and image
  count to on-read-synchronised variables (no cross-replica traffic in the
  step); the host reads their sums over all replicas every `interval`
  iterations (`update`) and moves p, so every replica and worker sees the
  same p. Create it under the strategy's scope.
  """

  def __init__(self, target: float, images_to_one: int, name="ada"):
    super().__init__(name=name)
    self.target = target
    self.images_to_one = images_to_one  # p's 0 -> 1 time, in images.
    self.p = tf.Variable(0.0, trainable=False, name="p")
    on_read = dict(trainable=False,
                   synchronization=tf.VariableSynchronization.ON_READ,
                   aggregation=tf.VariableAggregation.SUM)
    self.signs = tf.Variable(0.0, name="signs", **on_read)
    self.images = tf.Variable(0.0, name="images", **on_read)

  def observe(self, real_logits, threshold: float = 0.0) -> None:
    """Inside a step: adds sign(D(real) - threshold), averaged per image
    over every logit (a PatchGAN's map, every scale), to the sums."""
    per_image = tf.concat(
        [tf.reshape(tf.cast(l, tf.float32), [tf.shape(l)[0], -1])
         for l in tf.nest.flatten(real_logits)], axis=1)
    signs = tf.reduce_mean(tf.sign(per_image - threshold), axis=1)
    self.signs.assign_add(tf.reduce_sum(signs))
    self.images.assign_add(tf.cast(tf.shape(signs)[0], tf.float32))

  def update(self) -> float:
    """On the host: p += sign(r_t - target) * images / images_to_one,
    clipped to [0, 1]; resets the sums. Returns r_t (nan: no images)."""
    images = float(self.images.read_value())
    if not images:
      return float("nan")
    r_t = float(self.signs.read_value()) / images
    sign = (r_t > self.target) - (r_t < self.target)
    step = sign * images / self.images_to_one
    self.p.assign(min(max(float(self.p.numpy()) + step, 0.0), 1.0))
    self.signs.assign(0.0)
    self.images.assign(0.0)
    return r_t
