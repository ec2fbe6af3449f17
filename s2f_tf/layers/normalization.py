"""Normalisations: instance, layer-instance (ILN) and adaptive (AdaLIN).

Statistics run in float32 whatever the dtype policy: a float16 variance of
small activations underflows to 0 and fails silently. The layers create their
weights with `autocast=False` (read as float32 even inside a float16 autocast
scope) and cast their result back to the compute dtype.

All layers assume channels-last images [B, H, W, C].
"""

import keras
from keras import ops

EPSILON = 1e-5  # Variance epsilon of every normalisation (as in U-GAT-IT).


def _inverse_std(variance):
  """rsqrt(variance + eps), NaN where the variance overflowed to inf.

  When activations pass ~1e19 the float32 variance overflows to inf, and
  rsqrt(inf) = 0 would silently turn the layer's output into zeros: the
  all-zero failure of this project's TF1 ancestor. NaN instead makes the
  numerics checks stop training in that step. (variance - variance is 0 when
  finite and NaN when inf; no NaN constant, which check_numerics would flag.)
  """
  return ops.rsqrt(variance + EPSILON) + (variance - variance)


def standardize(x, axes):
  """(x - mean) / sqrt(var + eps) over `axes`, in float32."""
  x = ops.cast(x, "float32")
  mean, variance = ops.moments(x, axes, keepdims=True)
  return (x - mean) * _inverse_std(variance)


def layer_instance_affine(x, rho, gamma, beta):
  """gamma * (rho * IN(x) + (1 - rho) * LN(x)) + beta, in float32.

  The mix is affine in x per image and channel, so it is applied as one
  scale and shift: (x - mean_in) * scale + shift. LN's statistics follow
  from IN's (law of total variance: every channel has H * W values), so x
  is read for statistics once, not twice. On a CPU the norm layers are
  memory-bound, and this halves their full-size elementwise ops.

  Args:
    x: [B, H, W, C], any float dtype.
    rho: [C] mixing ratio in [0, 1].
    gamma, beta: [C] or [B, 1, 1, C] float32.
  """
  x = ops.cast(x, "float32")
  mean_in, var_in = ops.moments(x, (1, 2), keepdims=True)  # [B, 1, 1, C]
  mean_ln = ops.mean(mean_in, axis=3, keepdims=True)  # [B, 1, 1, 1]
  var_ln = ops.mean(var_in + ops.square(mean_in - mean_ln), axis=3,
                    keepdims=True)
  inv_in, ln_part = _inverse_std(var_in), (1.0 - rho) * _inverse_std(var_ln)
  scale = gamma * (rho * inv_in + ln_part)
  shift = beta + gamma * ln_part * (mean_in - mean_ln)
  return (x - mean_in) * scale + shift


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
    return ops.cast(standardize(x, (1, 2)), self.compute_dtype)


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
    y = layer_instance_affine(x, self.rho, self.gamma, self.beta)
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
    y = layer_instance_affine(x, self.rho, gamma, beta)
    return ops.cast(y, self.compute_dtype)

  def compute_output_shape(self, input_shape):
    return input_shape[0]


