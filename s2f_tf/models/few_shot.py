"""The few-shot sketch-to-face generator and its multi-scale discriminator.

The generator follows MUNIT's split of an image into content and style (Huang
et al. 2018, arXiv:1804.04732) with U-GAT-IT's AdaLIN decoder (Kim et al. 2020,
arXiv:1907.10830): content comes from the sketch, style is the average of the
codes of K reference photos of the target identity, and an MLP turns the
style into the gamma/beta of every AdaLIN layer. Averaging makes K free: it
may differ between training and inference and is dynamic in traced graphs.

The discriminator is pix2pixHD's multi-scale PatchGAN (Wang et al. 2018,
arXiv:1711.11585), conditioned on the sketch, with spectral norm on every conv
(`models.patchgan`, which the label-map family shares).

With `Sketch2FaceConfig.cam`, both networks gain U-GAT-IT's class-activation-map
attention (Kim et al. 2020, arXiv:1907.10830), whose auxiliary classifiers
need a two-class question. U-GAT-IT asks G's encoder "source or target
domain?", but our content encoder only ever sees sketches, so the mapping is:

  * G: `attention.CAMAttention` after the content encoder. Its classifier tells
    the source domain (a sketch, 1; `Generator.generate_with_cam`) from the
    target domain seen through the same encoder (the grayscale target photo,
    0; `Generator.content_cam_logits`), trained with
    `losses.cam_discriminator_loss`, as U-GAT-IT's G classifier tells x_s
    from x_t.
  * D: one `CAMAttention` per scale, after the conv stack and before the
    logits conv; its logits (`MultiScaleDiscriminator.call_with_cam` in
    `patchgan`) are an auxiliary real/fake classifier, D trained to say 1 on
    real and 0 on fake (`losses.cam_discriminator_loss`), G to make it say
    real (`losses.cam_generator_loss` on the fakes' logits), as in U-GAT-IT.

Every layer has a fixed name, so variable paths read like
`generator/decoder/res_block_0/adalin_1/rho` in numerics reports, summaries
and checkpoints. Models come out of `build_*` already built, so optimizers
and checkpoints always see their variables.
"""

import math

import keras
from keras import ops
import tensorflow as tf

from s2f_tf import config_families
from s2f_tf.layers import attention
from s2f_tf.layers import blocks
from s2f_tf.models import base
from s2f_tf.models import patchgan

ENCODER_RES_BLOCKS = 2  # Residual blocks after the content encoder's convs.
STYLE_POOL_SIZE = 4  # The style embedder downsamples to about 4x4, then pools.


def check_config(family_config, image_size):
  """Fails early, with the fix, on a `Sketch2FaceConfig` and image size the
  networks cannot honour.

  The task's `validate` calls it too, so a bad flag fails before anything
  is loaded or built.
  """
  factor = 2**family_config.n_downsample
  if not 16 <= image_size <= 256 or image_size % factor:
    raise ValueError(
        f"image_size={image_size} must be in [16, 256] and divisible by "
        f"2**n_downsample={factor}")
  if family_config.n_res < 1:
    raise ValueError("--n_res must be >= 1: style enters through AdaLIN "
                     "blocks")
  if family_config.up_kernel < 1 or family_config.up_kernel % 2 == 0:
    raise ValueError(f"--up_kernel={family_config.up_kernel} must be odd and "
                     ">= 1 (a conv centred on its pixel), e.g. 3 or 5")
  pool = family_config.style_pool
  if pool < 1 or image_size % pool or image_size // pool < STYLE_POOL_SIZE:
    raise ValueError(f"--style_pool={pool} must be >= 1 and divide "
                     f"image_size={image_size} into at least "
                     f"{STYLE_POOL_SIZE} pixels")
  if family_config.style_source not in config_families.STYLE_SOURCES:
    raise ValueError(f"style_source={family_config.style_source!r} is not one "
                     f"of {config_families.STYLE_SOURCES}")


def _content_encoder(cfg, ch):
  """Sketch [B, H, W, 1] -> content [B, H / 2**n, W / 2**n, ch * 2**n]."""
  stack = blocks.conv_norm_relu(ch, 7, 1, "conv_in")
  for i in range(cfg.n_downsample):
    stack += blocks.conv_norm_relu(ch * 2**(i + 1), 3, 2, f"down_{i}")
  width = ch * 2**cfg.n_downsample
  stack += [blocks.ResBlock(width, name=f"res_block_{i}")
            for i in range(ENCODER_RES_BLOCKS)]
  return keras.Sequential(stack, name="content_encoder")


def _style_embedder(cfg, image_size, ch):
  """Photos [N, H, W, 3] -> style codes [N, style_dim].

  No normalisation: instance norm would remove exactly the per-image colour
  statistics the style code must carry (MUNIT's style encoder, same reason).
  Zero padding, unlike MUNIT's reflection: the code is a global average, so
  no border reaches an image, and reflecting B * K photos before every conv
  was 7% of a demo step's op time on a CPU (docs/speed.md; held-out PSNR
  and SWD did not get worse). With `style_pool` > 1 it reads the photos
  average-pooled first: colours and coarse texture survive pooling, and
  the B * K photos are the generator's largest batch (docs/speed.md).
  """
  def conv(filters, size, strides, name):
    return keras.layers.Conv2D(filters, size, strides=strides,
                               padding="same", activation="relu", name=name)

  stack = [conv(ch, 7, 1, "conv_in")]
  if cfg.style_pool > 1:
    stack.insert(0, keras.layers.AveragePooling2D(cfg.style_pool,
                                                  name="pool_photos"))
  size = image_size // cfg.style_pool
  n_down = max(int(math.log2(size / STYLE_POOL_SIZE)), 0)
  for i in range(n_down):
    stack.append(conv(ch * 2**min(i + 1, 2), 3, 2, f"down_{i}"))
  stack += [keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(cfg.style_dim, name="to_style")]
  return keras.Sequential(stack, name="style_embedder")


def _style_mlp(cfg, n_params):
  """Style [B, style_dim] -> every AdaLIN's gamma and beta, concatenated."""
  return keras.Sequential([
      keras.layers.Dense(cfg.mlp_dim, activation="relu", name="dense_0"),
      keras.layers.Dense(cfg.mlp_dim, activation="relu", name="dense_1"),
      keras.layers.Dense(n_params, name="to_adalin"),
  ], name="style_mlp")


@keras.saving.register_keras_serializable(package="s2f_tf")
class Decoder(keras.layers.Layer):
  """(content, AdaLIN params) -> image in [-1, 1], float32.

  n_res AdaLIN residual blocks inject the style, n_upsample up-blocks restore
  the resolution, and a 7x7 conv + tanh gives RGB. tanh runs in float32 so
  outputs are float32 under every mixed-precision policy.
  """

  def __init__(self, channels, n_res, n_upsample, up_kernel=5, **kwargs):
    super().__init__(**kwargs)
    self.channels, self.n_res, self.n_upsample = channels, n_res, n_upsample
    self.up_kernel = up_kernel
    self.res_blocks = [blocks.AdaLINResBlock(channels, name=f"res_block_{i}")
                       for i in range(n_res)]
    self.up_blocks = [blocks.up_block(channels // 2**(i + 1), f"up_block_{i}",
                                      up_kernel)
                      for i in range(n_upsample)]
    self.conv_out = blocks.ReflectConv2D(3, 7, name="conv_out")
    self.tanh = keras.layers.Activation("tanh", dtype="float32", name="tanh")

  def call(self, inputs):
    x, params = inputs
    for block, block_params in zip(self.res_blocks,
                                   ops.split(params, self.n_res, axis=-1)):
      x = block((x, block_params))
    for block in self.up_blocks:
      x = block(x)
    return self.tanh(self.conv_out(x))

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "n_res": self.n_res, "n_upsample": self.n_upsample,
            "up_kernel": self.up_kernel}


@keras.saving.register_keras_serializable(package="s2f_tf")
class Generator(base.ConfiguredModel):
  """Sketch [B, H, W, 1] + K reference photos [B, K, H, W, 3] -> face.

  `style_source` other than "embedder" is a debugging mode: "random" draws a
  standard-normal style, "zeros" uses a zero style, both ignore the
  references and build no style embedder. If the output does not change
  between these modes, the generator is ignoring its style.
  """

  SECTION = config_families.Sketch2FaceConfig

  def __init__(self, family_config, image_size, base_channels, **kwargs):
    super().__init__(family_config, image_size, base_channels, **kwargs)
    check_config(family_config, image_size)
    cfg = family_config
    width = base_channels * 2**cfg.n_downsample
    self.content_encoder = _content_encoder(cfg, base_channels)
    self.style_embedder = (_style_embedder(cfg, image_size, base_channels)
                           if cfg.style_source == "embedder" else None)
    self.style_mlp = _style_mlp(cfg, n_params=cfg.n_res * 4 * width)
    self.decoder = Decoder(width, cfg.n_res, cfg.n_downsample, cfg.up_kernel,
                           name="decoder")
    self.cam = (attention.CAMAttention(name="cam")
                if cfg.cam else None)

  def call(self, inputs, training=False):
    """{"sketch", "refs"} -> image [B, H, W, 3] float32 in [-1, 1]."""
    style = self.encode_style(inputs["refs"], training=training)
    return self.generate(inputs["sketch"], style, training=training)

  def encode_content(self, sketch, training=False):
    """Sketch [B, H, W, 1] -> content features [B, H/2^n, W/2^n, C]."""
    return self.content_encoder(sketch, training=training)

  def encode_style_per_image(self, refs, training=False):
    """Photos [B, K, H, W, 3] -> one style code per photo [B, K, S], float32.

    The K photos are folded into the batch, so K may be dynamic (None).
    """
    if self.style_embedder is None:
      raise ValueError(
          "encode_style_per_image needs style_source='embedder', this "
          f"generator uses {self.family_config.style_source!r}")
    shape = ops.shape(refs)
    codes = self.style_embedder(ops.reshape(refs, (-1, *shape[2:])),
                                training=training)
    codes = ops.reshape(codes, (shape[0], shape[1], -1))
    return ops.cast(codes, "float32")

  def encode_style(self, refs, training=False):
    """Photos [B, K, H, W, 3] -> the style [B, S], float32, averaged over K."""
    source = self.family_config.style_source
    if source == "embedder":
      return ops.mean(self.encode_style_per_image(refs, training), axis=1)
    shape = (ops.shape(refs)[0], self.family_config.style_dim)
    if source == "random":
      return tf.random.normal(shape)
    return ops.zeros(shape)

  def generate(self, sketch, style, training=False):
    """Sketch [B, H, W, 1] + style [B, S] -> image [B, H, W, 3] float32."""
    return self._generate(sketch, style, training)[0]

  def generate_with_cam(self, sketch, style, training=False):
    """As `generate`, plus the CAM logits [B, 2] float32 (module docstring)."""
    if self.cam is None:
      raise ValueError("generate_with_cam needs a generator built with "
                       "Sketch2FaceConfig.cam=True")
    return self._generate(sketch, style, training)

  def content_cam_logits(self, image, training=False):
    """CAM logits [B, 2] of the content encoder for any 1-channel image.

    The second class of G's auxiliary classifier: grayscale photos, the one
    other kind of image the sketch encoder can read (module docstring).
    """
    if self.cam is None:
      raise ValueError("content_cam_logits needs a generator built with "
                       "Sketch2FaceConfig.cam=True")
    content = self.encode_content(image, training=training)
    return self.cam(content, training=training)[1]

  def _generate(self, sketch, style, training):
    """(image, CAM logits or None)."""
    content = self.encode_content(sketch, training=training)
    cam_logits = None
    if self.cam is not None:
      content, cam_logits = self.cam(content, training=training)
    params = self.style_mlp(style, training=training)
    return self.decoder((content, params), training=training), cam_logits


def build_generator(family_config, image_size, base_channels, k_refs=1):
  """A built `Generator` (dummy batch of 1 with `k_refs` references)."""
  generator = Generator(family_config, image_size, base_channels,
                        name="generator")
  generator({"sketch": ops.zeros((1, image_size, image_size, 1)),
             "refs": ops.zeros((1, k_refs, image_size, image_size, 3))})
  return generator


def build_discriminator(family_config, image_size):
  """A built `patchgan.MultiScaleDiscriminator` on (image, sketch), with
  CAM attention when `family_config.cam`."""
  return patchgan.build_discriminator(family_config, image_size,
                                      condition_channels=1,
                                      cam=family_config.cam)
