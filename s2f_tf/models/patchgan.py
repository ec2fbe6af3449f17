"""pix2pixHD's multi-scale spectral-norm PatchGAN, shared by the families.

Each scale is a PatchGAN (Isola et al. 2017, arXiv:1611.07004), one logit
per patch; `num_d` of them see the image at full, 1/2, 1/4... size
(pix2pixHD, Wang et al. 2018, arXiv:1711.11585); every conv is spectrally
normalised (Miyato et al. 2018, arXiv:1802.05957). The conditioning map (a
sketch, a one-hot label map) is concatenated to the image before the first
scale, so one class serves the few-shot and the label-map families.

Outputs are a list over scales of (logits, [feature maps]); `logits` and
`features` split that list for the adversarial and feature-matching terms.
Layer names are fixed (`discriminator/scale_1/conv_0/conv/kernel`), so
checkpoints are keyed by the same paths whichever family builds it.
"""

import math
from typing import List

import keras
from keras import ops
import tensorflow as tf

from s2f_tf.layers import attention
from s2f_tf.layers import spectral_norm

MAX_CHANNEL_MULT = 8  # Channel cap, as a multiple of the first conv's width.


def logits(outputs) -> List[tf.Tensor]:
  """The discriminator's outputs -> its logits, one tensor per scale."""
  return [scale_logits for scale_logits, _ in outputs]


def features(outputs) -> List[List[tf.Tensor]]:
  """The discriminator's outputs -> its hidden activations, per scale."""
  return [scale_features for _, scale_features in outputs]


@keras.saving.register_keras_serializable(package="s2f_tf")
class PatchDiscriminator(keras.layers.Layer):
  """One scale: a PatchGAN (Isola et al. 2017, arXiv:1611.07004).

  `n_layers` 4x4 convs that halve the map, one more 4x4 conv, then 4x4 conv
  to one logit per patch; spectral norm on each (Miyato et al. 2018), no other
  normalisation, LeakyReLU 0.2. A stride becomes 1 once the map is 3x3 or
  smaller, so small images or deep stacks never shrink below ~2x2. Returns
  (logits float32 [B, h, w, 1], [every hidden activation]) for feature
  matching; with `cam`, a spectrally normalised `CAMAttention` sits before the
  logits conv, and `with_cam=True` appends its logits float32 [B, 2].
  """

  def __init__(self, channels, n_layers, input_size, cam=False, **kwargs):
    super().__init__(**kwargs)
    self.channels, self.n_layers = channels, n_layers
    self.input_size, self.use_cam = input_size, cam
    self.convs = []
    size = input_size
    for i in range(n_layers + 1):
      strides = 2 if i < n_layers and size >= 4 else 1
      size = math.ceil(size / strides)
      filters = channels * min(2**i, MAX_CHANNEL_MULT)
      self.convs.append(_sn_conv(filters, strides, f"conv_{i}"))
    self.cam = (attention.CAMAttention(0.2, spectral_norm=True, name="cam")
                if cam else None)
    self.logits = _sn_conv(1, 1, "logits")

  def call(self, x, with_cam=False):
    hidden = []
    for conv in self.convs:
      x = ops.leaky_relu(conv(x), negative_slope=0.2)
      hidden.append(x)
    cam_logits = None
    if self.cam is not None:
      x, cam_logits = self.cam(x)
    out = ops.cast(self.logits(x), "float32")
    return (out, hidden, cam_logits) if with_cam else (out, hidden)

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "n_layers": self.n_layers, "input_size": self.input_size,
            "cam": self.use_cam}


def _sn_conv(filters, strides, name):
  conv = keras.layers.Conv2D(filters, 4, strides=strides, padding="same",
                             name="conv")
  return spectral_norm.SpectralNorm(conv, name=name)


@keras.saving.register_keras_serializable(package="s2f_tf")
class MultiScaleDiscriminator(keras.Model):
  """pix2pixHD's multi-scale discriminator (Wang et al. 2018, arXiv:1711.11585).

  `num_d` PatchGANs see the (image, condition) pair at full, 1/2, 1/4...
  size (3x3 stride-2 average pooling between scales): coarse scales judge
  the global face, the fine one the texture, with the same receptive field.
  Call with (image, condition), the condition a sketch or a one-hot label
  map of the image's size; returns a list over scales of (logits float32
  [B, h, w, 1], [feature maps]). With `cam`, `call_with_cam` also returns
  each scale's CAM logits.
  """

  def __init__(self, channels, n_layers, num_scales, image_size, cam=False,
               **kwargs):
    super().__init__(**kwargs)
    self.channels, self.n_layers, self.num_scales = (channels, n_layers,
                                                     num_scales)
    self.image_size, self.use_cam = image_size, cam
    self.scales = [
        PatchDiscriminator(channels, n_layers, math.ceil(image_size / 2**i),
                           cam=cam, name=f"scale_{i}")
        for i in range(num_scales)]
    self.downsample = keras.layers.AveragePooling2D(
        3, strides=2, padding="same", name="downsample")

  def call(self, inputs, training=False, with_cam=False):
    image, condition = inputs
    x = ops.concatenate([image, ops.cast(condition, image.dtype)], axis=-1)
    outputs = []
    for i, scale in enumerate(self.scales):
      if i:
        x = self.downsample(x)
      outputs.append(scale(x, training=training, with_cam=with_cam))
    if not with_cam:
      return outputs
    return [out[:2] for out in outputs], [out[2] for out in outputs]

  def call_with_cam(self, inputs, training=False):
    """(the `call` outputs, [CAM logits float32 [B, 2] per scale])."""
    if not self.use_cam:
      raise ValueError("call_with_cam needs a discriminator built with "
                       "cam=True")
    return self(inputs, training=training, with_cam=True)

  def get_config(self):
    return {"name": self.name, "channels": self.channels,
            "n_layers": self.n_layers, "num_scales": self.num_scales,
            "image_size": self.image_size, "cam": self.use_cam}


def build_discriminator(family_config, image_size, condition_channels,
                        cam=False):
  """A built `MultiScaleDiscriminator` (dummy batch of 1) named
  "discriminator", for a condition map of `condition_channels`, sized by a
  `config_families.TranslationConfig` (num_d, d_layers, d_channels)."""
  discriminator = MultiScaleDiscriminator(
      family_config.d_channels, family_config.d_layers, family_config.num_d,
      image_size, cam=cam, name="discriminator")
  discriminator((ops.zeros((1, image_size, image_size, 3)),
                 ops.zeros((1, image_size, image_size, condition_channels))))
  return discriminator
