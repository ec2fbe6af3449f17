"""Spectral normalisation of a Conv2D or Dense kernel.

The power iteration runs in float32 whatever the dtype policy, because a
float16 sigma of a large kernel overflows; the wrapper has a float32 policy of
its own and convolves at the wrapped layer's compute dtype.
"""

import keras
from keras import ops


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



def maybe_spectral_norm(make, name, inner_name, spectral_norm):
  """`make(name)`, or `SpectralNorm(make(inner_name))` named `name`."""
  if spectral_norm:
    return SpectralNorm(make(inner_name), name=name)
  return make(name)
