"""DiffAugment: differentiable augmentation of what the discriminator sees.

On 100 to 1,000 images a discriminator memorises the training set and
training collapses. DiffAugment (Zhao et al. 2020, arXiv:2006.10738)
applies the same random, differentiable transforms to real and generated
images before D, in D's and G's steps alike, so D never sees an
unaugmented image and G's gradient flows back through the transforms.
The transforms follow the paper's official code (DiffAugment_tf.py) and
act on [-1, 1] images.

A conditional discriminator also reads maps aligned with the image (a
sketch, a one-hot label map): the geometric transforms (translation,
cutout) move them with the image by the same integer offsets, so they stay
pixel-aligned and a label map keeps exact labels (integer shifts are
nearest-neighbour sampling); colour transforms never touch them.

The random parameters are drawn by `draw_params` and applied by
`diff_augment`, so tests fix them and compare against a reference. This
module sits at the bottom: TensorFlow only.
"""

from typing import Dict, Sequence, Tuple

import tensorflow as tf

# Policy name -> its transforms, applied in this order (the paper's).
POLICIES = {
    "color": ("brightness", "saturation", "contrast"),
    "translation": ("translation",),
    "cutout": ("cutout",),
}
TRANSLATION_RATIO = 1 / 8  # Largest shift, as a fraction of the side.
CUTOUT_RATIO = 1 / 2  # Side of the erased square, as a fraction.

Params = Dict[str, tf.Tensor]


def parse_policy(text: str) -> Tuple[str, ...]:
  """'color, translation' -> the transforms in order; ValueError (one line)
  on an empty policy or a name not in POLICIES."""
  names = tuple(n.strip() for n in text.split(",") if n.strip())
  unknown = [n for n in names if n not in POLICIES]
  if unknown or not names:
    problem = f"has unknown {unknown}" if unknown else "is empty"
    raise ValueError(f"--augment_policy={text!r} {problem}; use a "
                     f"comma-separated subset of {','.join(POLICIES)}")
  return tuple(t for n in names for t in POLICIES[n])


def _extent(size: int, ratio: float) -> int:
  """round(size * ratio) as the official code rounds it (+0.5, floor)."""
  return int(size * ratio + 0.5)


def draw_params(transforms: Sequence[str], batch, size: int) -> Params:
  """Random parameters of `transforms` for `batch` (an int or a scalar
  tensor) images of side `size`.

  brightness, saturation, contrast: float32 [B, 1, 1, 1] (an offset in
  [-0.5, 0.5), factors in [0, 2) and [0.5, 1.5)); translation: int32
  [B, 2] row and column shifts in [-size/8, size/8]; cutout: int32 [B, 2]
  centres of the erased square. The distributions are the official code's.
  """
  shape = [batch, 1, 1, 1]
  shift = _extent(size, TRANSLATION_RATIO)
  cut = _extent(size, CUTOUT_RATIO)
  draws = {
      "brightness": lambda: tf.random.uniform(shape) - 0.5,
      "saturation": lambda: tf.random.uniform(shape) * 2.0,
      "contrast": lambda: tf.random.uniform(shape) + 0.5,
      "translation": lambda: tf.random.uniform(
          [batch, 2], -shift, shift + 1, dtype=tf.int32),
      "cutout": lambda: tf.random.uniform(
          [batch, 2], 0, size + (1 - cut % 2), dtype=tf.int32),
  }
  return {t: draws[t]() for t in transforms}


def translate(x: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
  """out[b, i, j] = x[b, i + shift[b, 0], j + shift[b, 1]], zero outside.

  An integer gather: exact for label maps, differentiable for images.
  """
  height, width = x.shape[1], x.shape[2]
  rows = tf.range(height)[None] + shift[:, :1]  # [B, H]
  cols = tf.range(width)[None] + shift[:, 1:]  # [B, W]
  inside = lambda idx, n: (idx >= 0) & (idx < n)
  valid = inside(rows, height)[:, :, None] & inside(cols, width)[:, None, :]
  x = tf.gather(x, tf.clip_by_value(rows, 0, height - 1), axis=1,
                batch_dims=1)
  x = tf.gather(x, tf.clip_by_value(cols, 0, width - 1), axis=2,
                batch_dims=1)
  return tf.where(valid[..., None], x, tf.zeros_like(x))


def cutout(x: tf.Tensor, centre: tf.Tensor) -> tf.Tensor:
  """Zeroes a square of side size/2 centred at `centre` [B, 2] (clipped
  at the border), as the official code's mask."""
  size = x.shape[1]
  cut = _extent(size, CUTOUT_RATIO)
  low = centre - cut // 2  # [B, 2]
  grid = tf.range(size)[None]
  in_rows = (grid >= low[:, :1]) & (grid < low[:, :1] + cut)  # [B, H]
  in_cols = (grid >= low[:, 1:]) & (grid < low[:, 1:] + cut)  # [B, W]
  erased = in_rows[:, :, None] & in_cols[:, None, :]
  return tf.where(erased[..., None], tf.zeros_like(x), x)


def _colour(name: str, x: tf.Tensor, magnitude: tf.Tensor) -> tf.Tensor:
  """The official brightness (add), saturation (scale about the pixel's
  channel mean) and contrast (scale about the image mean)."""
  if name == "brightness":
    return x + magnitude
  axes = [3] if name == "saturation" else [1, 2, 3]
  mean = tf.reduce_mean(x, axis=axes, keepdims=True)
  return (x - mean) * magnitude + mean


def diff_augment(image: tf.Tensor, params: Params,
                 conditions: Sequence[tf.Tensor] = ()
                 ) -> Tuple[tf.Tensor, Tuple[tf.Tensor, ...]]:
  """(image, conditions) after the transforms of `params`, in its order.

  Args:
    image: [B, S, S, C] on [-1, 1], any float dtype: the math runs in
      float32 and the result is cast back (mixed precision).
    params: `draw_params`' output (or fixed values of the same shapes).
    conditions: maps [B, S, S, *] aligned with the image; they get the
      geometric transforms with the same parameters, never the colour ones,
      and keep their dtype.
  """
  x = tf.cast(image, tf.float32)
  maps = tuple(conditions)
  for name, value in params.items():
    if name == "translation":
      x, maps = translate(x, value), tuple(translate(m, value) for m in maps)
    elif name == "cutout":
      x, maps = cutout(x, value), tuple(cutout(m, value) for m in maps)
    else:
      x = _colour(name, x, value)
  return tf.cast(x, image.dtype), maps
