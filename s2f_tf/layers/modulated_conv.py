"""StyleGAN2's style-driven layers: modulated conv, noise, minibatch stddev.

Karras et al. 2020, arXiv:1912.04958. Demodulation and the minibatch
statistics run in float32 whatever the dtype policy (a float16 sum of
squared weights overflows past 65504); only the convolution itself runs at
the compute dtype.
"""

import keras
from keras import ops
import tensorflow as tf

from s2f_tf.layers import equalized

DEMOD_EPSILON = 1e-8  # StyleGAN2's epsilon inside the demodulation rsqrt.


@keras.saving.register_keras_serializable(package="s2f_tf")
class NoiseInjection(keras.layers.Layer):
  """Adds per-pixel Gaussian noise times a learnt strength (StyleGAN2 Sec. 2).

  Karras et al. 2020, arXiv:1912.04958 (and StyleGAN, arXiv:1812.04948,
  Sec. 3.2): noise gives the generator a cheap source of stochastic detail
  (hair strands, pores) so it does not spend capacity faking randomness. The
  strength starts at 0. Training draws fresh noise; inference uses a fixed
  noise map stored with the weights (StyleGAN2's noise_mode='const'), so
  samples, grids and exports are deterministic functions of z.
  """

  def build(self, input_shape):
    self.strength = self.add_weight(name="strength", shape=(),
                                    initializer="zeros")
    self.const_noise = self.add_weight(
        name="const_noise", shape=(1, *input_shape[1:3], 1),
        initializer="random_normal", trainable=False)

  def call(self, x, training=None):
    if training:
      shape = tf.shape(x)
      noise = tf.random.normal([shape[0], shape[1], shape[2], 1],
                               dtype=x.dtype)
    else:
      noise = ops.cast(self.const_noise, x.dtype)
    return x + noise * ops.cast(self.strength, x.dtype)


@keras.saving.register_keras_serializable(package="s2f_tf")
class ModulatedConv2D(keras.layers.Layer):
  """Convolution whose weights a style scales per input channel, per example.

  Karras et al. 2020, arXiv:1912.04958 (Sec. 2.2, Eqs. 1-3). An equalized
  affine maps w to styles s [B, C_in] (bias 1, so it starts as the
  identity). Modulation w'_ijk = s_i w_ijk replaces AdaIN; demodulation
  w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps) restores unit output
  variance without normalising the activations, which is what removes
  StyleGAN's droplet artefacts. Computed as StyleGAN2's non-fused path:
  scale the input by s, convolve with the shared weight, scale the output by
  the demodulation coefficients; the same maths without per-example kernels.
  Optionally adds `NoiseInjection`, then bias and activation (a StyleGAN2
  synthesis layer); `demodulate=False, noise=False` is its toRGB layer.

  Call with (x [B, H, W, C_in], w [B, w_dim]).
  """

  def __init__(self, filters, kernel_size, demodulate=True, noise=False,
               activation="lrelu", **kwargs):
    super().__init__(**kwargs)
    self.filters, self.kernel_size = filters, kernel_size
    self.demodulate, self.noise, self.activation = demodulate, noise, activation
    self.noise_layer = NoiseInjection(name="noise") if noise else None

  def build(self, input_shape):
    x_shape, w_shape = input_shape
    c, k = x_shape[-1], self.kernel_size
    # float32: the styles feed demodulation, which must not see float16.
    self.affine = equalized.EqualizedDense(c, bias_init=1.0, dtype="float32",
                                           name="affine")
    self.affine.build(w_shape)
    self.weight_gain = 1.0 / (k * k * c)**0.5
    self.kernel = self.add_weight(name="kernel", shape=(k, k, c, self.filters),
                                  initializer="random_normal", autocast=False)
    self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                initializer="zeros", autocast=False)
    if self.noise_layer is not None:
      self.noise_layer.build((*x_shape[:-1], self.filters))

  def modulation(self, w):
    """(styles [B, C_in], demodulation [B, C_out] or None), float32.

    The demodulated kernel of example b is kernel * gain * styles[b, i] *
    demodulation[b, o]; it has unit L2 norm per output channel o.
    """
    styles = ops.cast(self.affine(w), "float32")
    if not self.demodulate:
      return styles, None
    weight = ops.cast(self.kernel, "float32") * self.weight_gain
    sum_sq = ops.matmul(ops.square(styles),
                        ops.sum(ops.square(weight), axis=(0, 1)))
    # sum_sq - sum_sq is 0 when finite and NaN when inf: an overflow stops
    # training here instead of rsqrt(inf) = 0 silently zeroing the layer.
    return styles, ops.rsqrt(sum_sq + DEMOD_EPSILON) + (sum_sq - sum_sq)

  def call(self, inputs, training=None):
    x, w = inputs
    dtype = self.compute_dtype
    styles, demod = self.modulation(w)
    x = ops.cast(x, dtype) * ops.cast(styles[:, None, None, :], dtype)
    kernel = ops.cast(self.kernel * self.weight_gain, dtype)
    y = ops.conv(x, kernel, padding="same")
    if demod is not None:
      y = y * ops.cast(demod[:, None, None, :], dtype)
    if self.noise_layer is not None:
      y = self.noise_layer(y, training=training)
    y = y + ops.cast(self.bias, dtype)
    return equalized.activate(y, self.activation)

  def compute_output_shape(self, input_shape):
    return (*input_shape[0][:-1], self.filters)

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "kernel_size": self.kernel_size, "demodulate": self.demodulate,
            "noise": self.noise, "activation": self.activation}


@keras.saving.register_keras_serializable(package="s2f_tf")
class MinibatchStddev(keras.layers.Layer):
  """Appends one channel: the mean stddev of features within a sample group.

  Karras et al. 2018 (ProGAN), arXiv:1710.10196, Sec. 3, as configured in
  StyleGAN2 (group size 4, one channel): the discriminator sees how varied
  a group of samples is, so a generator that collapses to a few outputs is
  easy to reject. Example b belongs to group b mod (B / G) with G = min(
  group_size, B); B must be divisible by G. Statistics in float32.
  """

  def __init__(self, group_size=4, **kwargs):
    super().__init__(**kwargs)
    self.group_size = group_size

  def call(self, x):
    shape = ops.shape(x)
    batch, h, w, c = shape[0], shape[1], shape[2], shape[3]
    group = ops.minimum(self.group_size, batch)
    y = ops.reshape(ops.cast(x, "float32"), (group, -1, h, w, c))
    y = ops.sqrt(ops.var(y, axis=0) + 1e-8)  # [M, H, W, C]
    y = ops.mean(y, axis=(1, 2, 3))  # [M]
    y = ops.tile(ops.reshape(y, (-1, 1, 1, 1)), (group, h, w, 1))
    return ops.concatenate([x, ops.cast(y, x.dtype)], axis=-1)

  def compute_output_shape(self, input_shape):
    return (*input_shape[:-1], input_shape[-1] + 1)

  def get_config(self):
    return {**super().get_config(), "group_size": self.group_size}
