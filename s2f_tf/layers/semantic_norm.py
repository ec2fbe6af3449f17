"""Semantic normalisations: SPADE, CLADE and SEAN, and their residual block.

All three normalise without parameters and then modulate every pixel with a
gamma and beta that depend on the label map, so the layout survives the
normalisation that would otherwise wash it out:

  spade  gamma, beta from a small conv net on the one-hot map
         (Park et al. 2019, arXiv:1903.07291)
  clade  gamma, beta looked up per class; `add_dist` scales them by the
         intra-class position map (Tan et al. 2021, arXiv:2012.04644)
  sean   a per-region style code, broadcast over its region and convolved,
         blended with SPADE's gamma, beta by learnt weights
         (Zhu et al. 2020, arXiv:1911.12861)

The condition is one dict, the same for every block of a generator:
  labels  one-hot label map [B, H, W, L] at full resolution
  dist    intra-class offsets [B, H, W, 2] (`intra_class_offsets`), clade
          with add_dist
  style   region style codes [B, L, S] float32, sean
  present [B, L] float32, 1 where the region has a code, sean
Each layer resizes what it needs to its input's size (nearest, so one-hot
stays one-hot). Statistics and the modulation run in float32 under every
precision policy, as in `normalization`; outputs take the compute dtype.
"""

import keras
from keras import ops
import tensorflow as tf

from s2f_tf.layers import blocks
from s2f_tf.layers import normalization
from s2f_tf.layers import spectral_norm as spectral_norm_lib

NORM_MODES = ("spade", "clade", "sean")  # The modulations (module docstring).
PARAM_FREE_NORMS = ("instance", "batch")  # What runs before the modulation.


def resize_nearest(x, size):
  """[B, H, W, C] -> [B, size, size, C] by nearest neighbour, same dtype."""
  if x.shape[1] == size and x.shape[2] == size:
    return x
  return ops.cast(ops.image.resize(ops.cast(x, "float32"), (size, size),
                                   interpolation="nearest"), x.dtype)


def region_average(features, labels):
  """Average of `features` over each semantic region: SEAN's region pooling.

  Zhu et al. 2020, arXiv:1911.12861 (Sec. 3.1). Args: features [B, h, w, S];
  labels one-hot [B, H, W, L], resized to h x w here. Returns (codes float32
  [B, L, S], present float32 [B, L]). A region with no pixel gets a zero code
  and present = 0, so callers can tell "absent" from "black".
  """
  features = ops.cast(features, "float32")
  labels = ops.cast(resize_nearest(labels, features.shape[1]), "float32")
  area = ops.sum(labels, axis=(1, 2))
  total = ops.einsum("bhwl,bhws->bls", labels, features)
  codes = total / ops.maximum(area, 1.0)[:, :, None]
  return codes, ops.cast(area > 0, "float32")


def average_present(codes, present):
  """Mean over K references of each region's code, skipping absent ones.

  Args: codes [B, K, L, S], present [B, K, L] (0 or 1). Returns (codes
  [B, L, S], present [B, L]). A reference without the region (no hat in
  that photo) does not pull the mean toward zero; a region absent from all
  K gets a zero code and present = 0, and `SemanticNorm` then uses SPADE's
  modulation alone there.
  """
  codes = ops.cast(codes, "float32")
  present = ops.cast(present, "float32")
  count = ops.sum(present, axis=1)
  total = ops.sum(codes * present[..., None], axis=1)
  return total / ops.maximum(count, 1.0)[..., None], ops.minimum(count, 1.0)


def intra_class_offsets(labels):
  """ICLADE's intra-class positional map (Tan et al. 2021, arXiv:2012.04644).

  For each pixel, its (dy, dx) offset from the centroid of its own class
  region, divided by the largest such offset in that region, so values lie in
  [-1, 1] whatever the region's size. Gives CLADE, which otherwise sees only
  the class id, a sense of where in the eye or hair a pixel sits.
  labels: one-hot [B, H, W, L]; returns float32 [B, H, W, 2].
  """
  labels = ops.cast(labels, "float32")
  size_h, size_w = labels.shape[1], labels.shape[2]
  grid_y, grid_x = ops.meshgrid(ops.arange(size_h, dtype="float32"),
                                ops.arange(size_w, dtype="float32"),
                                indexing="ij")
  coords = ops.stack([grid_y, grid_x], axis=-1)  # [H, W, 2]
  area = ops.maximum(ops.sum(labels, axis=(1, 2)), 1.0)  # [B, L]
  centroid = ops.einsum("bhwl,hwc->blc", labels, coords) / area[..., None]
  pixel_centroid = ops.einsum("bhwl,blc->bhwc", labels, centroid)
  offsets = coords[None] - pixel_centroid
  extent = ops.max(labels[..., None] * ops.abs(offsets)[:, :, :, None, :],
                   axis=(1, 2))  # [B, L, 2]
  pixel_extent = ops.einsum("bhwl,blc->bhwc", labels, extent)
  return offsets / ops.maximum(pixel_extent, 1.0)


@keras.saving.register_keras_serializable(package="s2f_tf")
class SpadeModulation(keras.layers.Layer):
  """SPADE's gamma, beta: conv-ReLU on the one-hot map, then two convs.

  Park et al. 2019, arXiv:1903.07291 (Sec. 3). The convs pad by reflection
  (the paper pads with zeros) so a uniform region gets a uniform modulation
  up to the image border: with a one-class map SPADE is then exactly a
  conditional norm with one gamma, beta per class. Call with (labels at the
  input's size); returns (gamma, beta) float32 [B, H, W, channels].
  """

  def __init__(self, channels, hidden, **kwargs):
    super().__init__(**kwargs)
    self.channels, self.hidden = channels, hidden
    self.shared = blocks.ReflectConv2D(hidden, 3, activation="relu",
                                       name="shared")
    self.to_gamma = blocks.ReflectConv2D(channels, 3, name="gamma")
    self.to_beta = blocks.ReflectConv2D(channels, 3, name="beta")

  def call(self, labels):
    h = self.shared(labels)
    return (ops.cast(self.to_gamma(h), "float32"),
            ops.cast(self.to_beta(h), "float32"))

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "hidden": self.hidden}


@keras.saving.register_keras_serializable(package="s2f_tf")
class ClassModulation(keras.layers.Layer):
  """CLADE's gamma, beta: one row of a [L, C] table per pixel's class.

  Tan et al. 2021, arXiv:2012.04644 (Sec. 3): no conv touches the label
  map, so the modulation costs a gather instead of SPADE's three convs.
  With `add_dist` (ICLADE) each is scaled by 1 + a 1x1 conv of the
  intra-class offsets; those convs start at zero so ICLADE starts as CLADE.
  The tables start at gamma 1, beta 0 (identity). Call with (labels,
  offsets or None) at the input's size; returns float32 [B, H, W, C].
  """

  def __init__(self, channels, label_nc, add_dist=False, **kwargs):
    kwargs.setdefault("dtype", "float32")
    super().__init__(autocast=False, **kwargs)
    self.channels, self.label_nc, self.add_dist = channels, label_nc, add_dist
    self.dist_gamma = self.dist_beta = None
    if add_dist:
      zero_conv = lambda name: keras.layers.Conv2D(
          1, 1, kernel_initializer="zeros", dtype="float32", name=name)
      self.dist_gamma, self.dist_beta = zero_conv("dist_gamma"), zero_conv(
          "dist_beta")

  def build(self, labels_shape):
    # Weights are made in build(), inside the layer's name scope, so their
    # paths (checkpoints, numerics reports) name this layer.
    shape = (self.label_nc, self.channels)
    self.gamma = self.add_weight(name="gamma", shape=shape,
                                 initializer="ones")
    self.beta = self.add_weight(name="beta", shape=shape, initializer="zeros")

  def call(self, labels, offsets=None):
    class_id = ops.argmax(labels, axis=-1)
    gamma = ops.take(self.gamma, class_id, axis=0)
    beta = ops.take(self.beta, class_id, axis=0)
    if self.add_dist:
      offsets = ops.cast(offsets, "float32")
      gamma = gamma * (1.0 + self.dist_gamma(offsets))
      beta = beta * (1.0 + self.dist_beta(offsets))
    return gamma, beta

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "label_nc": self.label_nc, "add_dist": self.add_dist}


@keras.saving.register_keras_serializable(package="s2f_tf")
class RegionStyleModulation(keras.layers.Layer):
  """SEAN's style branch: region codes -> per-pixel gamma, beta.

  Zhu et al. 2020, arXiv:1911.12861 (Sec. 3.2, Fig. 4): each class has its
  own fully connected layer + ReLU on its region's code, the result is
  broadcast over the pixels of that region, and 3x3 convs give gamma, beta.
  Call with (labels at the input's size, codes [B, L, S], present [B, L]);
  returns (gamma, beta float32 [B, H, W, C], has_code float32 [B, H, W, 1]:
  1 where the pixel's region has a code).
  """

  def __init__(self, channels, label_nc, style_dim, **kwargs):
    super().__init__(**kwargs)
    self.channels, self.label_nc = channels, label_nc
    self.style_dim = style_dim
    self.to_gamma = blocks.ReflectConv2D(channels, 3, name="gamma")
    self.to_beta = blocks.ReflectConv2D(channels, 3, name="beta")

  def build(self, labels_shape):
    nc, dim = self.label_nc, self.style_dim
    self.fc_kernel = self.add_weight(name="fc_kernel", shape=(nc, dim, dim),
                                     initializer="glorot_uniform",
                                     autocast=False)
    self.fc_bias = self.add_weight(name="fc_bias", shape=(nc, dim),
                                   initializer="zeros", autocast=False)

  def call(self, labels, codes, present):
    labels = ops.cast(labels, "float32")
    mu = ops.relu(ops.einsum("bls,lst->blt", ops.cast(codes, "float32"),
                             self.fc_kernel) + self.fc_bias)
    mu = mu * ops.cast(present, "float32")[..., None]
    style_map = ops.cast(ops.einsum("bhwl,blt->bhwt", labels, mu),
                         self.compute_dtype)
    has_code = ops.einsum("bhwl,bl->bhw", labels,
                          ops.cast(present, "float32"))[..., None]
    return (ops.cast(self.to_gamma(style_map), "float32"),
            ops.cast(self.to_beta(style_map), "float32"), has_code)

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "label_nc": self.label_nc, "style_dim": self.style_dim}


@keras.saving.register_keras_serializable(package="s2f_tf")
class SemanticNorm(keras.layers.Layer):
  """Parameter-free norm, then the `mode`'s per-pixel modulation.

  spade: x_hat * (1 + gamma) + beta (Park et al. 2019, arXiv:1903.07291).
  clade: x_hat * gamma + beta, gamma and beta per class (Tan et al. 2021,
    arXiv:2012.04644).
  sean: x + noise is normalised, then gamma = a * gamma_style +
    (1 - a) * gamma_spade with a = sigmoid(learnt scalar), likewise beta,
    and x_hat * (1 + gamma) + beta (Zhu et al. 2020, arXiv:1911.12861).
    Where the pixel's region has no style code, a is 0: SPADE alone. The
    noise (per channel, scale learnt from 0) is added while training only,
    so sampling and the exported model are deterministic.

  `param_free` "instance" uses `normalization.standardize`; "batch" is a
  synchronized batch norm as in SPADE (under a tf.distribute strategy, mean
  and variance of the global batch), with moving statistics at inference.
  Call with (x, condition dict, see module docstring).
  """

  def __init__(self, channels, label_nc, mode="spade", param_free="instance",
               hidden=128, add_dist=False, style_dim=64, **kwargs):
    super().__init__(**kwargs)
    if mode not in NORM_MODES or param_free not in PARAM_FREE_NORMS:
      raise ValueError(f"mode={mode!r} must be one of {NORM_MODES} and "
                       f"param_free={param_free!r} one of {PARAM_FREE_NORMS}")
    self.channels, self.label_nc, self.mode = channels, label_nc, mode
    self.param_free, self.hidden, self.add_dist = param_free, hidden, add_dist
    self.style_dim = style_dim
    self.batch_norm = None
    if param_free == "batch":
      # momentum 0.9 is PyTorch's 0.1, SPADE's setting.
      self.batch_norm = keras.layers.BatchNormalization(
          center=False, scale=False, momentum=0.9,
          epsilon=normalization.EPSILON, synchronized=True, dtype="float32",
          name="batch_norm")
    self.spade = self.classes = self.style = None
    if mode == "clade":
      self.classes = ClassModulation(channels, label_nc, add_dist,
                                     name="class_modulation")
    else:
      self.spade = SpadeModulation(channels, hidden, name="spade_modulation")
    if mode == "sean":
      self.style = RegionStyleModulation(channels, label_nc, style_dim,
                                         name="style_modulation")

  def build(self, x_shape):
    if self.mode != "sean":
      return
    zeros = lambda name, shape: self.add_weight(
        name=name, shape=shape, initializer="zeros", autocast=False)
    self.blend_gamma, self.blend_beta = zeros("blend_gamma", ()), zeros(
        "blend_beta", ())
    self.noise_scale = zeros("noise_scale", (self.channels,))

  def _normalize(self, x, training):
    if self.batch_norm is None:
      return normalization.standardize(x, (1, 2))
    return self.batch_norm(ops.cast(x, "float32"), training=training)

  def _modulation(self, labels, condition):
    """(gamma, beta) float32, each applied as x_hat * gamma + beta."""
    if self.mode == "clade":
      offsets = condition.get("dist")
      if self.add_dist:
        offsets = resize_nearest(offsets, labels.shape[1])
      return self.classes(labels, offsets)
    gamma, beta = self.spade(labels)
    if self.mode == "sean":
      style_gamma, style_beta, has_code = self.style(
          labels, condition["style"], condition["present"])
      a_gamma = ops.sigmoid(self.blend_gamma) * has_code
      a_beta = ops.sigmoid(self.blend_beta) * has_code
      gamma = a_gamma * style_gamma + (1.0 - a_gamma) * gamma
      beta = a_beta * style_beta + (1.0 - a_beta) * beta
    return 1.0 + gamma, beta

  def call(self, x, condition, training=None):
    if self.mode == "sean" and training:
      noise = tf.random.normal(ops.shape(x)[:3])[..., None]
      x = ops.cast(x, "float32") + noise * self.noise_scale
    labels = resize_nearest(condition["labels"], x.shape[1])
    gamma, beta = self._modulation(labels, condition)
    y = self._normalize(x, training) * gamma + beta
    return ops.cast(y, self.compute_dtype)

  def compute_output_shape(self, input_shape, condition_shape=None):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "label_nc": self.label_nc, "mode": self.mode,
            "param_free": self.param_free, "hidden": self.hidden,
            "add_dist": self.add_dist, "style_dim": self.style_dim}


@keras.saving.register_keras_serializable(package="s2f_tf")
class SemanticResBlock(keras.layers.Layer):
  """SPADE's residual block: norm-LReLU-conv twice, plus a shortcut.

  Park et al. 2019, arXiv:1903.07291 (Fig. 4 right). When the width changes
  the shortcut is learnt (norm then a bias-free 1x1 conv). Convs carry
  spectral norm (Miyato et al. 2018, arXiv:1802.05957), as in SPADE's
  generator. `norm` holds the keyword arguments of every `SemanticNorm`
  but its channels. Call with (x, condition); returns [B, H, W, filters].
  """

  def __init__(self, in_channels, filters, label_nc, norm=None,
               spectral_norm=True, **kwargs):
    super().__init__(**kwargs)
    self.in_channels, self.filters, self.label_nc = (in_channels, filters,
                                                     label_nc)
    self.norm, self.spectral_norm = dict(norm or {}), spectral_norm
    middle = min(in_channels, filters)
    self.norm_0 = self._norm(in_channels, "norm_0")
    self.conv_0 = self._conv(middle, 3, True, "conv_0")
    self.norm_1 = self._norm(middle, "norm_1")
    self.conv_1 = self._conv(filters, 3, True, "conv_1")
    self.norm_s = self.conv_s = None
    if in_channels != filters:
      self.norm_s = self._norm(in_channels, "norm_s")
      self.conv_s = self._conv(filters, 1, False, "conv_s")

  def _norm(self, channels, name):
    return SemanticNorm(channels, self.label_nc, name=name, **self.norm)

  def _conv(self, filters, size, bias, name):
    make = lambda inner: keras.layers.Conv2D(filters, size, padding="same",
                                             use_bias=bias, name=inner)
    return spectral_norm_lib.maybe_spectral_norm(make, name, "conv",
                                                 self.spectral_norm)

  def call(self, x, condition, training=None):
    act = lambda t: ops.leaky_relu(t, negative_slope=0.2)
    shortcut = x
    if self.conv_s is not None:
      shortcut = self.conv_s(self.norm_s(x, condition, training=training),
                             training=training)
    y = self.conv_0(act(self.norm_0(x, condition, training=training)),
                    training=training)
    y = self.conv_1(act(self.norm_1(y, condition, training=training)),
                    training=training)
    return ops.cast(shortcut, y.dtype) + y

  def compute_output_shape(self, input_shape, condition_shape=None):
    return (*input_shape[:-1], self.filters)

  def get_config(self):
    return {**super().get_config(), "in_channels": self.in_channels,
            "filters": self.filters, "label_nc": self.label_nc,
            "norm": self.norm, "spectral_norm": self.spectral_norm}
