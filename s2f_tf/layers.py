"""The networks' parts: normalisations, spectral norm, convs, residual blocks.

Numerics under mixed precision: spectral norm's power iteration and every
normalisation's statistics run in float32 whatever the dtype policy, because a
float16 variance of small activations underflows to 0 and a float16 sigma of a
large kernel overflows, and both fail silently. The norm layers create their
weights with `autocast=False` (read as float32 even inside a float16 autocast
scope) and cast their result back to the compute dtype; `SpectralNorm` has a
float32 policy of its own and convolves at the wrapped layer's compute dtype.

All layers assume channels-last images [B, H, W, C].
"""

import keras
from keras import ops

EPSILON = 1e-5  # Variance epsilon of every normalisation (as in U-GAT-IT).


def _standardize(x, axes):
  """(x - mean) / sqrt(var + eps) over `axes`, in float32.

  When activations pass ~1e19 the float32 variance overflows to inf, and
  rsqrt(inf) = 0 would silently turn the layer's output into zeros: the
  all-zero failure of this project's TF1 ancestor. An overflowed variance
  yields NaN instead, so the numerics checks stop training in that step.
  """
  x = ops.cast(x, "float32")
  mean, variance = ops.moments(x, axes, keepdims=True)
  # variance - variance is 0 when finite and NaN when inf (no NaN constant:
  # check_numerics would flag the constant itself).
  inv_std = ops.rsqrt(variance + EPSILON) + (variance - variance)
  return (x - mean) * inv_std


def _layer_instance_mix(x, rho):
  """rho * InstanceNorm(x) + (1 - rho) * LayerNorm(x), per channel rho."""
  return (rho * _standardize(x, (1, 2)) +
          (1.0 - rho) * _standardize(x, (1, 2, 3)))


@keras.saving.register_keras_serializable(package="s2f_tf")
class SpectralNorm(keras.layers.Wrapper):
  """Reparametrises a Conv2D or Dense kernel as W / sigma(W).

  Miyato et al. 2018, arXiv:1802.05957. Unlike
  `keras.layers.SpectralNormalization`, the kernel variable is never
  overwritten: the layer convolves with W / sigma(W) computed from it, so the
  gradient reaches W through sigma as the paper's reparametrisation requires.
  sigma comes from `power_iterations` power-iteration steps started at `u`, a
  non-trainable weight that carries the estimate across steps (W moves slowly,
  so one step per update converges). `u` only changes when training=True, so
  evaluating the discriminator never changes state.

  The wrapper's own dtype policy (float32 by default) is the dtype of that
  maths, so W and u are read unrounded; the convolution runs at the wrapped
  layer's compute dtype, and the output has that dtype. Call `sigma()` to read
  the current estimate (tests, summaries).
  """

  def __init__(self, layer, power_iterations=1, **kwargs):
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
      raise ValueError(
          f"SpectralNorm wraps Conv2D or Dense, got {type(layer).__name__}")
    if getattr(layer, "data_format", "channels_last") != "channels_last":
      raise ValueError("SpectralNorm supports channels_last convs only")
    kwargs.setdefault("dtype", "float32")
    # autocast=False: no float16 scope may round W or u when they are read.
    super().__init__(layer, autocast=False, **kwargs)
    self.power_iterations = power_iterations

  def build(self, input_shape):
    super().build(input_shape)
    # Every replica computes the same u from the same mirrored W and u, so
    # keeping the first replica's update is exact and needs no all-reduce.
    self.u = self.add_weight(
        name="u", shape=(1, self.layer.kernel.shape[-1]),
        initializer=keras.initializers.RandomNormal(), trainable=False,
        dtype="float32", aggregation="only_first_replica")

  def _power_iteration(self):
    """Returns (sigma, next u); u and v are constants for the gradient."""
    w = ops.reshape(self.layer.kernel, (-1, self.layer.kernel.shape[-1]))
    u = self.u
    for _ in range(self.power_iterations):
      v = ops.normalize(ops.matmul(u, ops.transpose(w)), axis=-1)
      u = ops.normalize(ops.matmul(v, w), axis=-1)
    u, v = ops.stop_gradient(u), ops.stop_gradient(v)
    return ops.sum(ops.matmul(v, w) * u), u

  def sigma(self):
    """The spectral-norm estimate the next call would use (no update)."""
    return self._power_iteration()[0]

  def normalized_kernel(self, training=None):
    """W / sigma(W), float32; training=True also stores the new `u`.

    Public for layers that use the kernel itself, not only its product with
    an input (`CAMAttention` reweights channels by it). Call it from a
    float32-policy layer with autocast=False, as `CAMAttention` is: inside a
    float16 autocast scope W and u would be read rounded.
    """
    sigma, u = self._power_iteration()
    if training:
      self.u.assign(u)
    return self.layer.kernel / sigma

  def call(self, inputs, training=None):
    dtype = self.layer.compute_dtype
    kernel = ops.cast(self.normalized_kernel(training), dtype)
    inputs = ops.cast(inputs, dtype)
    if isinstance(self.layer, keras.layers.Conv2D):
      outputs = self.layer.convolution_op(inputs, kernel)
    else:
      outputs = ops.matmul(inputs, kernel)
    if self.layer.use_bias:
      outputs = outputs + ops.cast(self.layer.bias, dtype)
    return self.layer.activation(outputs)

  def compute_output_shape(self, input_shape):
    return self.layer.compute_output_shape(input_shape)

  def get_config(self):
    return {**super().get_config(), "power_iterations": self.power_iterations}


@keras.saving.register_keras_serializable(package="s2f_tf")
class UnitInterval(keras.constraints.Constraint):
  """Clips a weight to [0, 1] after each optimizer step.

  U-GAT-IT's `RhoClipper` (Kim et al. 2020, arXiv:1907.10830): rho is a
  mixing ratio, so values outside [0, 1] would extrapolate past IN or LN.
  """

  def __call__(self, w):
    return ops.clip(w, 0.0, 1.0)


@keras.saving.register_keras_serializable(package="s2f_tf")
class InstanceNorm(keras.layers.Layer):
  """Instance normalisation without affine parameters.

  Ulyanov et al. 2016, arXiv:1607.08022. Used in the content encoder: the
  sketch's per-image contrast is not content, and the next conv absorbs any
  scale and shift an affine part would learn.
  """

  def call(self, x):
    return ops.cast(_standardize(x, (1, 2)), self.compute_dtype)


@keras.saving.register_keras_serializable(package="s2f_tf")
class LayerInstanceNorm(keras.layers.Layer):
  """Layer-Instance Normalisation (ILN) with a learnt mixing ratio rho.

  Kim et al. 2020 (U-GAT-IT), arXiv:1907.10830: rho * IN + (1 - rho) * LN,
  then a learnt per-channel gamma and beta. Used in the decoder's upsampling
  blocks, where LN keeps the global style that IN would wash out. rho starts
  at 0 (pure LN) as in U-GAT-IT and is clipped to [0, 1].
  """

  def build(self, input_shape):
    channels = (input_shape[-1],)
    self.rho = self.add_weight(name="rho", shape=channels, initializer="zeros",
                               constraint=UnitInterval(), autocast=False)
    self.gamma = self.add_weight(name="gamma", shape=channels,
                                 initializer="ones", autocast=False)
    self.beta = self.add_weight(name="beta", shape=channels,
                                initializer="zeros", autocast=False)

  def call(self, x):
    y = _layer_instance_mix(x, self.rho) * self.gamma + self.beta
    return ops.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="s2f_tf")
class AdaLIN(keras.layers.Layer):
  """Adaptive Layer-Instance Normalisation.

  Kim et al. 2020 (U-GAT-IT), arXiv:1907.10830. Like `LayerInstanceNorm`, but
  gamma and beta [B, C] come from the style MLP, which is how the reference
  photos' style enters the decoder. rho (one per channel, clipped to [0, 1])
  starts at 0.9 as in U-GAT-IT: mostly IN, so content structure survives.

  Call with a tuple (x, gamma, beta).
  """

  def build(self, input_shape):
    self.rho = self.add_weight(
        name="rho", shape=(input_shape[0][-1],),
        initializer=keras.initializers.Constant(0.9),
        constraint=UnitInterval(), autocast=False)

  def call(self, inputs):
    x, gamma, beta = inputs
    gamma = ops.cast(gamma, "float32")[:, None, None, :]
    beta = ops.cast(beta, "float32")[:, None, None, :]
    y = _layer_instance_mix(x, self.rho) * gamma + beta
    return ops.cast(y, self.compute_dtype)

  def compute_output_shape(self, input_shape):
    return input_shape[0]


@keras.saving.register_keras_serializable(package="s2f_tf")
class ReflectConv2D(keras.layers.Conv2D):
  """Conv2D over a reflection-padded input ("same" size at stride 1).

  As in the MUNIT and U-GAT-IT generators (Huang et al. 2018,
  arXiv:1804.04732): with zero padding every conv sees a black frame around
  the image, and it comes back as dark borders on the generated faces.
  """

  def __init__(self, filters, kernel_size, **kwargs):
    if kwargs.pop("padding", "valid") != "valid":
      raise ValueError("ReflectConv2D pads by reflection; padding must be "
                       "'valid' (the default)")
    super().__init__(filters, kernel_size, padding="valid", **kwargs)

  def _pads(self):
    """(before, after) per spatial axis: k - 1 in all, any odd one after."""
    return [((k - 1) // 2, k // 2) for k in self.kernel_size]

  def call(self, inputs):
    paddings = [(0, 0), *self._pads(), (0, 0)]
    return super().call(ops.pad(inputs, paddings, mode="reflect"))

  def compute_output_shape(self, input_shape):
    padded = [None if d is None else d + before + after
              for d, (before, after) in zip(input_shape[1:3], self._pads())]
    return super().compute_output_shape(
        (input_shape[0], *padded, input_shape[3]))


@keras.saving.register_keras_serializable(package="s2f_tf")
class ResBlock(keras.layers.Layer):
  """conv-IN-ReLU-conv-IN plus identity, at constant width.

  He et al. 2016, arXiv:1512.03385, with instance norm as in MUNIT's content
  encoder (arXiv:1804.04732).
  """

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.conv_0 = ReflectConv2D(filters, 3, name="conv_0")
    self.norm_0 = InstanceNorm(name="norm_0")
    self.conv_1 = ReflectConv2D(filters, 3, name="conv_1")
    self.norm_1 = InstanceNorm(name="norm_1")

  def call(self, x):
    y = ops.relu(self.norm_0(self.conv_0(x)))
    return x + self.norm_1(self.conv_1(y))

  def get_config(self):
    return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="s2f_tf")
class AdaLINResBlock(keras.layers.Layer):
  """conv-AdaLIN-ReLU-conv-AdaLIN plus identity (U-GAT-IT, arXiv:1907.10830).

  Call with (x, params): params [B, 4 * filters] from the style MLP holds
  gamma and beta of `adalin_0`, then gamma and beta of `adalin_1`.
  """

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.conv_0 = ReflectConv2D(filters, 3, name="conv_0")
    self.adalin_0 = AdaLIN(name="adalin_0")
    self.conv_1 = ReflectConv2D(filters, 3, name="conv_1")
    self.adalin_1 = AdaLIN(name="adalin_1")

  def call(self, inputs):
    x, params = inputs
    gamma_0, beta_0, gamma_1, beta_1 = ops.split(params, 4, axis=-1)
    y = ops.relu(self.adalin_0((self.conv_0(x), gamma_0, beta_0)))
    return x + self.adalin_1((self.conv_1(y), gamma_1, beta_1))

  def compute_output_shape(self, input_shape):
    return input_shape[0]

  def get_config(self):
    return {**super().get_config(), "filters": self.filters}


def _maybe_spectral_norm(make, name, inner_name, spectral_norm):
  """`make(name)`, or `SpectralNorm(make(inner_name))` named `name`."""
  if spectral_norm:
    return SpectralNorm(make(inner_name), name=name)
  return make(name)


@keras.saving.register_keras_serializable(package="s2f_tf")
class CAMAttention(keras.layers.Layer):
  """Class-activation-map attention with its auxiliary classifier.

  U-GAT-IT, Kim et al. 2020, arXiv:1907.10830 (Sec. 2.1). A classifier reads
  the global average-pooled (GAP) and global max-pooled (GMP) features
  through one bias-free logit each; its weight w_c says how much channel c
  decides the class, so scaling channel c by w_c (a class activation map,
  Zhou et al. 2016, arXiv:1512.04150) stresses the regions that tell the
  classes apart. As in the paper, GAP and GMP have their own weights: the
  two reweighted maps are concatenated and a 1x1 conv plus activation brings
  them back to the input's C channels.

  Call with features [B, H, W, C]; returns (features [B, H, W, C], logits
  float32 [B, 2] (GAP, GMP)). What the logits classify is the caller's
  choice (see `networks`).

  Args:
    negative_slope: of the output LeakyReLU: 0 (ReLU) in U-GAT-IT's
      generator, 0.2 in its discriminator.
    spectral_norm: spectral norm on both logits and the 1x1 conv, as in
      U-GAT-IT's discriminator; channels are then scaled by W / sigma(W).
  """

  def __init__(self, negative_slope=0.0, spectral_norm=False, **kwargs):
    # The classifier's weights are read here, outside their layers' calls: a
    # float32 policy and autocast=False keep every autocast scope away, as
    # for `SpectralNorm`. Pooling and logits run in float32; the reweighted
    # maps keep the input's dtype and the 1x1 conv its own policy.
    kwargs.setdefault("dtype", "float32")
    super().__init__(autocast=False, **kwargs)
    self.negative_slope, self.spectral_norm = negative_slope, spectral_norm
    dense = lambda name: keras.layers.Dense(1, use_bias=False, name=name)
    self.gap_fc = _maybe_spectral_norm(dense, "gap_fc", "dense", spectral_norm)
    self.gmp_fc = _maybe_spectral_norm(dense, "gmp_fc", "dense", spectral_norm)
    self.conv = None  # Needs the input's channels: made in build().

  def build(self, input_shape):
    channels = input_shape[-1]
    for fc in (self.gap_fc, self.gmp_fc):
      fc.build((None, channels))
    self.conv = _maybe_spectral_norm(
        lambda name: keras.layers.Conv2D(channels, 1, name=name), "conv_1x1",
        "conv", self.spectral_norm)
    self.conv.build((*input_shape[:-1], 2 * channels))

  def _weights(self, fc, training):
    """The classifier's effective kernel [C, 1], float32."""
    if self.spectral_norm:
      return fc.normalized_kernel(training)
    return ops.cast(fc.kernel, "float32")

  def call(self, x, training=None):
    x32 = ops.cast(x, "float32")
    pooled = (ops.mean(x32, axis=(1, 2)), ops.max(x32, axis=(1, 2)))
    logits, maps = [], []
    for features, fc in zip(pooled, (self.gap_fc, self.gmp_fc)):
      w = self._weights(fc, training)
      logits.append(ops.matmul(features, w))
      maps.append(x * ops.cast(w[:, 0], x.dtype))
    y = self.conv(ops.concatenate(maps, axis=-1), training=training)
    y = ops.leaky_relu(y, negative_slope=self.negative_slope)
    return y, ops.concatenate(logits, axis=-1)

  def compute_output_shape(self, input_shape):
    return input_shape, (input_shape[0], 2)

  def get_config(self):
    return {**super().get_config(), "negative_slope": self.negative_slope,
            "spectral_norm": self.spectral_norm}
