"""LightweightGAN (FastGAN): SLE generator and self-supervised discriminator.

Liu et al. 2021, arXiv:2101.04775: a GAN for a few hundred images and one
GPU-day, which on small images fits a 2-core CPU. The generator grows a
4x4 map with upsample-conv-BN-GLU blocks, and skip-layer excitation
(`layers.excitation`) lets low-resolution maps gate the channels of
high-resolution ones. The discriminator is a strided conv stack judged by
hinge loss, plus two small decoders that must reconstruct the real image
from its 8x8 features and a random quadrant of the image from the matching
quadrant of its 16x16 features; that auto-encoding task makes D learn
features that describe the whole image, which keeps it from overfitting a
small set. Spectral norm on every conv and dense layer, as in the paper.

Adaptations to small images, noted where they occur: SLE connects
resolution r to 8r (the paper's r to 16r needs >= 256 px), the decoders
reconstruct at S / 2 and the comparison is L1 on pixels, not LPIPS (no
perceptual network to download); up and down blocks are the paper's simple
variants (no noise injection or residual pooling branch).
"""

import math

import keras
from keras import ops
import tensorflow as tf

from s2f_tf.layers import excitation
from s2f_tf.layers import spectral_norm as spectral_norm_lib

FIRST_SIZE = 4
FEATURE_SIZE = 8  # D's logits and its whole-image decoder read 8x8 maps.
SLE_RATIO = 8  # SLE from resolution r into 8r (module docstring).
# FastGAN's widths as multiples of ngf (G) and ndf (D), per resolution.
_G_WIDTH = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5}
_D_WIDTH = {4: 16, 8: 16, 16: 8, 32: 4, 64: 2, 128: 1, 256: 0.5}


def check_size(image_size: int) -> None:
  if image_size not in (32, 64, 128, 256):
    raise ValueError("LightweightGAN image_size must be 32, 64, 128 or 256, "
                     f"got {image_size}")


def _conv(filters, kernel_size, name, strides=1, padding="same"):
  return spectral_norm_lib.SpectralNorm(
      keras.layers.Conv2D(filters, kernel_size, strides=strides,
                          padding=padding, use_bias=False, name="conv"),
      name=name)


def _batch_norm(name="bn"):
  return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                         name=name)


def _up_block(filters, name):
  """x2 nearest, 3x3 conv to 2 x filters, BN, GLU (FastGAN's UpBlock)."""
  return keras.Sequential([
      keras.layers.UpSampling2D(name="up"), _conv(2 * filters, 3, "conv"),
      _batch_norm(), excitation.GLU(name="glu")], name=name)


def build_lightweight_generator(z_dim=256, image_size=64,
                                base_channels=32) -> keras.Model:
  """z [B, z_dim] -> image float32 [B, S, S, 3] in [-1, 1] (FastGAN's G)."""
  check_size(image_size)
  width = {res: int(base_channels * m) for res, m in _G_WIDTH.items()}
  z = keras.Input((z_dim,))
  # FastGAN's 4x4 transposed conv from 1x1 is a dense layer to 4x4.
  x = spectral_norm_lib.SpectralNorm(
      keras.layers.Dense(FIRST_SIZE * FIRST_SIZE * 2 * width[4],
                         use_bias=False, name="dense"), name="init_dense")(z)
  x = keras.layers.Reshape((FIRST_SIZE, FIRST_SIZE, 2 * width[4]),
                           name="init_reshape")(x)
  x = excitation.GLU(name="init_glu")(_batch_norm("init_bn")(x))
  feats, res = {FIRST_SIZE: x}, FIRST_SIZE
  while res < image_size:
    res *= 2
    x = _up_block(width[res], f"up_{res}")(x)
    if res // SLE_RATIO in feats:
      x = excitation.SkipLayerExcitation(
          name=f"sle_{res // SLE_RATIO}_{res}")((feats[res // SLE_RATIO], x))
    feats[res] = x
  x = spectral_norm_lib.SpectralNorm(
      keras.layers.Conv2D(3, 3, padding="same", name="conv"),
      name="to_rgb")(x)
  images = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
  return keras.Model(z, images, name="lightweight_generator")


def quadrant(x, part):
  """One of the four quadrants of x [B, H, W, C], part in {0, 1, 2, 3}."""
  h, w = x.shape[1] // 2, x.shape[2] // 2
  begin = tf.stack([0, (part // 2) * h, (part % 2) * w, 0])
  return tf.slice(x, begin, [-1, h, w, -1])


def _decoder(size, base_channels, name):
  """8x8 features -> image [B, size, size, 3] (FastGAN's SimpleDecoder)."""
  sizes = [FEATURE_SIZE * 2**i for i in range(1, int(math.log2(
      size // FEATURE_SIZE)) + 1)]
  return keras.Sequential(
      [_up_block(int(base_channels * _D_WIDTH[res]), f"up_{res}")
       for res in sizes] +
      [_conv(3, 3, "to_rgb"),
       keras.layers.Activation("tanh", dtype="float32", name="tanh")],
      name=name)


@keras.saving.register_keras_serializable(package="s2f_tf")
class LightweightDiscriminator(keras.Model):
  """image [B, S, S, 3] -> patch logits float32 [B, 5, 5, 1], and decoders.

  Widths are FastGAN's multiples of base_channels (ndf) per resolution.
  `call_with_reconstructions` also returns what the decoders rebuild of the
  image, and `reconstruction_targets` what they should have rebuilt.
  """

  def __init__(self, image_size=64, base_channels=32, **kwargs):
    super().__init__(**kwargs)
    check_size(image_size)
    self.image_size, self.base_channels = image_size, base_channels
    width = lambda res: int(base_channels * _D_WIDTH[res])
    res = image_size // 2
    self.from_rgb = keras.Sequential(
        [_conv(width(res), 4, "conv", strides=2),
         keras.layers.LeakyReLU(0.2, name="lrelu")], name=f"down_{res}")
    self.downs = []
    while res > FEATURE_SIZE:
      res //= 2
      self.downs.append(keras.Sequential(
          [_conv(width(res), 4, "conv", strides=2), _batch_norm(),
           keras.layers.LeakyReLU(0.2, name="lrelu")], name=f"down_{res}"))
    self.head = keras.Sequential(
        [_conv(width(res), 1, "conv_1x1"), _batch_norm(),
         keras.layers.LeakyReLU(0.2, name="lrelu"),
         _conv(1, 4, "logits", padding="valid")], name="head")
    self.decoder_size = image_size // 2
    self.decoder_big = _decoder(self.decoder_size, base_channels,
                                "decoder_big")
    self.decoder_part = _decoder(self.decoder_size, base_channels,
                                 "decoder_part")

  def _features(self, images, training):
    """{16: [B, 16, 16, C], 8: [B, 8, 8, C']}."""
    x = self.from_rgb(images, training=training)
    feats = {x.shape[1]: x}
    for down in self.downs:
      x = down(x, training=training)
      feats[x.shape[1]] = x
    return feats

  def call(self, images, training=None):
    feats = self._features(images, training)
    return ops.cast(self.head(feats[FEATURE_SIZE], training=training),
                    "float32")

  def call_with_reconstructions(self, images, part, training=None):
    """(logits, [whole image, quadrant `part`] decoded, float32)."""
    feats = self._features(images, training)
    logits = ops.cast(self.head(feats[FEATURE_SIZE], training=training),
                      "float32")
    crop = quadrant(feats[2 * FEATURE_SIZE], part)
    return logits, [self.decoder_big(feats[FEATURE_SIZE], training=training),
                    self.decoder_part(crop, training=training)]

  def reconstruction_targets(self, images, part):
    """[image, its quadrant `part`], each resized to the decoders' size."""
    size = (self.decoder_size, self.decoder_size)
    images = ops.cast(images, "float32")
    return [ops.image.resize(images, size, interpolation="area"),
            ops.image.resize(quadrant(images, part), size,
                             interpolation="area")]

  def get_config(self):
    return {**super().get_config(), "image_size": self.image_size,
            "base_channels": self.base_channels}


def build_lightweight_discriminator(image_size=64,
                                    base_channels=32) -> LightweightDiscriminator:
  """A built discriminator, decoders included."""
  discriminator = LightweightDiscriminator(image_size, base_channels,
                                           name="lightweight_discriminator")
  discriminator.call_with_reconstructions(
      ops.zeros((1, image_size, image_size, 3)), 0)
  return discriminator
