"""Equalized-learning-rate Dense and Conv2D (ProGAN, StyleGAN2).

Karras et al. 2018, arXiv:1710.10196 (Sec. 4.1), used everywhere in
StyleGAN2 (Karras et al. 2020, arXiv:1912.04958). Weights are stored ~N(0, 1)
and multiplied by the He constant 1 / sqrt(fan_in) at run time, not at
initialisation: Adam's step size is then the same for every layer whatever
its fan-in, so wide and narrow layers learn at the same speed. The other
factor of He's sqrt(2 / fan_in), sqrt(2), is the gain of the leaky ReLU
(`activate`), as in StyleGAN2's code.

A learning-rate multiplier (the mapping network's 0.01) stores weights
~N(0, 1 / lr) and scales by lr / sqrt(fan_in): the effective weights start
the same, but every Adam step moves them lr times as far.
"""

import math

import keras
from keras import ops

ACTIVATIONS = ("linear", "lrelu")
LRELU_GAIN = math.sqrt(2.0)  # Keeps unit variance through leaky ReLU 0.2.


def activate(x, activation: str):
  """Leaky ReLU 0.2 times sqrt(2) ("lrelu"), or the identity ("linear")."""
  if activation == "lrelu":
    # max(x, 0.2 x), not a LeakyRelu op: grappler's remapper fails (and logs
    # an error) fusing bias-add + LeakyRelu inside R1's double backprop.
    return ops.maximum(x, 0.2 * x) * ops.cast(LRELU_GAIN, x.dtype)
  return x


class _Equalized(keras.layers.Layer):
  """Shared parts: N(0, 1 / lr) kernel, run-time gain, bias, activation."""

  def __init__(self, lr_multiplier=1.0, bias_init=0.0, activation="linear",
               use_bias=True, **kwargs):
    if activation not in ACTIVATIONS:
      raise ValueError(f"activation must be one of {ACTIVATIONS}, got "
                       f"{activation!r}")
    super().__init__(**kwargs)
    self.lr_multiplier, self.bias_init = lr_multiplier, bias_init
    self.activation, self.use_bias = activation, use_bias

  def _add_kernel(self, shape, fan_in):
    self.weight_gain = self.lr_multiplier / math.sqrt(fan_in)
    self.kernel = self.add_weight(
        name="kernel", shape=shape,
        initializer=keras.initializers.RandomNormal(
            stddev=1.0 / self.lr_multiplier))
    self.bias = None
    if self.use_bias:
      self.bias = self.add_weight(
          name="bias", shape=shape[-1:],
          initializer=keras.initializers.Constant(
              self.bias_init / self.lr_multiplier))

  def scaled_kernel(self):
    """The kernel the layer applies: stored kernel * lr / sqrt(fan_in)."""
    return self.kernel * ops.cast(self.weight_gain, self.kernel.dtype)

  def _finish(self, y):
    if self.bias is not None:
      y = y + self.bias * ops.cast(self.lr_multiplier, y.dtype)
    return activate(y, self.activation)

  def get_config(self):
    return {**super().get_config(), "lr_multiplier": self.lr_multiplier,
            "bias_init": self.bias_init, "activation": self.activation,
            "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package="s2f_tf")
class EqualizedDense(_Equalized):
  """Dense with equalized learning rate (module docstring).

  Args:
    units: output width.
    lr_multiplier: 0.01 in StyleGAN2's mapping network.
    bias_init: initial effective bias (1 for StyleGAN2's style affines, so
      styles start near 1 and modulation starts as the identity).
    activation: "linear" or "lrelu".
  """

  def __init__(self, units, **kwargs):
    super().__init__(**kwargs)
    self.units = units

  def build(self, input_shape):
    self._add_kernel((input_shape[-1], self.units), input_shape[-1])

  def call(self, x):
    return self._finish(ops.matmul(x, self.scaled_kernel()))

  def compute_output_shape(self, input_shape):
    return (*input_shape[:-1], self.units)

  def get_config(self):
    return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="s2f_tf")
class EqualizedConv2D(_Equalized):
  """Stride-1 "same" Conv2D with equalized learning rate (module docstring).

  Resolution changes happen outside (average pooling in StyleGAN2's
  discriminator blocks), so the layer stays a plain convolution.
  """

  def __init__(self, filters, kernel_size, **kwargs):
    super().__init__(**kwargs)
    self.filters, self.kernel_size = filters, kernel_size

  def build(self, input_shape):
    k, c = self.kernel_size, input_shape[-1]
    self._add_kernel((k, k, c, self.filters), k * k * c)

  def call(self, x):
    return self._finish(ops.conv(x, self.scaled_kernel(), padding="same"))

  def compute_output_shape(self, input_shape):
    return (*input_shape[:-1], self.filters)

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "kernel_size": self.kernel_size}
