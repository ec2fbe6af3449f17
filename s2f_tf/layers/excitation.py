"""FastGAN's building blocks: skip-layer excitation and the gated linear unit.

Liu et al. 2021 (FastGAN / LightweightGAN), arXiv:2101.04775.
"""

import keras
from keras import ops

from s2f_tf.layers import spectral_norm as spectral_norm_lib


@keras.saving.register_keras_serializable(package="s2f_tf")
class GLU(keras.layers.Layer):
  """Gated linear unit over channels: a * sigmoid(b), halving the channels.

  Dauphin et al. 2017, arXiv:1612.08083; FastGAN's activation after every
  generator conv (arXiv:2101.04775, Sec. 3).
  """

  def call(self, x):
    a, b = ops.split(x, 2, axis=-1)
    return a * ops.sigmoid(b)

  def compute_output_shape(self, input_shape):
    return (*input_shape[:-1], input_shape[-1] // 2)


@keras.saving.register_keras_serializable(package="s2f_tf")
class SkipLayerExcitation(keras.layers.Layer):
  """Gates a high-resolution feature map's channels from a low-res one.

  Liu et al. 2021, arXiv:2101.04775, Sec. 3.1 (Eq. 1): y = x_high *
  sigmoid(F(x_low)), F = adaptive average pool to 4x4, 4x4 conv (valid, to
  1x1), leaky ReLU 0.1, 1x1 conv to the high branch's channels. A skip
  connection across resolutions (8 -> 64 px, say) that costs one gate per
  channel instead of a feature map, and lets coarse structure switch
  fine-scale channels on and off (the paper's style/content
  disentanglement). Spectral norm on both convs, as everywhere in FastGAN.

  Call with (x_low [B, h, w, C_low], x_high [B, H, W, C_high]).
  """

  POOL_SIZE = 4

  def build(self, input_shape):
    low, high = input_shape
    self.squeeze = spectral_norm_lib.SpectralNorm(
        keras.layers.Conv2D(low[-1], self.POOL_SIZE, use_bias=False,
                            name="conv"), name="squeeze")
    self.squeeze.build((None, self.POOL_SIZE, self.POOL_SIZE, low[-1]))
    self.excite = spectral_norm_lib.SpectralNorm(
        keras.layers.Conv2D(high[-1], 1, use_bias=False, name="conv"),
        name="excite")
    self.excite.build((None, 1, 1, low[-1]))

  def gate(self, x_low, training=None):
    """sigmoid(F(x_low)) [B, 1, 1, C_high], in (0, 1)."""
    size = x_low.shape[1] // self.POOL_SIZE
    pooled = ops.average_pool(x_low, size, size)
    h = ops.leaky_relu(self.squeeze(pooled, training=training), 0.1)
    return ops.sigmoid(self.excite(h, training=training))

  def call(self, inputs, training=None):
    x_low, x_high = inputs
    return x_high * ops.cast(self.gate(x_low, training), x_high.dtype)

  def compute_output_shape(self, input_shape):
    return input_shape[1]
