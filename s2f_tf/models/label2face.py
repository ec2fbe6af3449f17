"""Label map -> face: the SPADE / CLADE / SEAN generator and its encoders.

One generator serves the three papers; `Label2FaceConfig.norm_mode` picks the
normalisation of its residual blocks (`layers.semantic_norm`):

  spade  Park et al. 2019, arXiv:1903.07291
  clade  Tan et al. 2021, arXiv:2012.04644
  sean   Zhu et al. 2020, arXiv:1911.12861

It starts from the label map downsampled by 2**n_up (SPADE without an
encoder) or, with `use_vae`, from a code drawn from a VAE encoder of the
reference photos (SPADE's multimodal variant), then alternates x2 nearest
upsampling and a `SemanticResBlock` that halves the width.

Few-shot regional style (beyond the papers): under sean the style encoder
pools one code per region from each of K reference photos of the person,
using each reference's own mask, and the K codes of a region are averaged
over the references that show it (`semantic_norm.average_present`). The
layout comes from the label map, each region's look from the references.

The discriminator is the multi-scale PatchGAN both families share
(`models.patchgan`), fed the image and the one-hot label map concatenated
(`build_discriminator`).
"""

import math

import keras
from keras import ops
import tensorflow as tf

from s2f_tf import config_families
from s2f_tf.layers import blocks
from s2f_tf.layers import semantic_norm
from s2f_tf.models import base
from s2f_tf.models import patchgan

MAX_WIDTH_MULT = 16  # SPADE's widest block is 16 * ngf.
VAE_POOL_SIZE = 4  # SPADE's VAE encoder convolves down to 4x4.


def check(family_config, image_size):
  """Fails early, with the fix, on a `Label2FaceConfig` and image size the
  generator cannot honour.

  The task's `validate` calls it too, so a bad flag fails before anything
  is loaded or built.
  """
  if image_size % 2**family_config.n_up:
    raise ValueError(
        f"--image_size={image_size} is not divisible by 2**n_up="
        f"{2**family_config.n_up}; lower --n_up or use a multiple of it")
  for name, value, allowed in (
      ("norm_mode", family_config.norm_mode, semantic_norm.NORM_MODES),
      ("param_free_norm", family_config.param_free_norm,
       semantic_norm.PARAM_FREE_NORMS)):
    if value not in allowed:
      raise ValueError(f"--{name}={value!r} is unknown; use one of "
                       f"{', '.join(allowed)}")


def one_hot(labels, label_nc):
  """Class ids [B, H, W] (any int dtype) -> float32 one-hot [B, H, W, L]."""
  return ops.one_hot(ops.cast(labels, "int32"), label_nc, dtype="float32")


def _vae_encoder(cfg, image_size, ch):
  """Photos [N, H, W, 3] -> (mu, logvar) [N, style_dim] each.

  SPADE's ConvEncoder (arXiv:1903.07291, Appendix): stride-2 convs with
  instance norm down to 4x4, then two linear heads.
  """
  n_down = max(int(math.log2(image_size / VAE_POOL_SIZE)), 0)
  stack = []
  for i in range(n_down):
    stack += blocks.conv_norm_relu(ch * min(2**i, 8), 3, 2, f"down_{i}")
  stack.append(keras.layers.Flatten(name="flatten"))
  trunk = keras.Sequential(stack, name="trunk")
  inputs = keras.Input((image_size, image_size, 3))
  h = trunk(inputs)
  mu = keras.layers.Dense(cfg.style_dim, dtype="float32", name="mu")(h)
  logvar = keras.layers.Dense(cfg.style_dim, dtype="float32", name="logvar")(h)
  return keras.Model(inputs, (mu, logvar), name="vae_encoder")


def _region_encoder(cfg, ch):
  """Photos [N, H, W, 3] -> style features [N, H/2, W/2, style_dim].

  SEAN's Zencoder (arXiv:1911.12861, Sec. 3.1): two stride-2 convs, one
  upsampling, a tanh conv; `semantic_norm.region_average` then pools them
  per region. No norm after the last conv: it carries the colours.
  """
  stack = blocks.conv_norm_relu(ch, 7, 1, "conv_in")
  for i in range(2):
    stack += blocks.conv_norm_relu(ch * 2**(i + 1), 3, 2, f"down_{i}")
  stack += [blocks.up_block(ch * 2, "up"),
            blocks.ReflectConv2D(cfg.style_dim, 7, activation="tanh",
                                 dtype="float32", name="conv_out")]
  return keras.Sequential(stack, name="region_encoder")


def _widths(n_up, ch):
  """Channels of the first block and after each of the n_up upsamplings."""
  return [ch * min(2**(n_up - i), MAX_WIDTH_MULT) for i in range(n_up + 1)]


@keras.saving.register_keras_serializable(package="s2f_tf")
class Label2FaceGenerator(base.ConfiguredModel):
  """{"labels" [B, H, W] int, "refs" [B, K, H, W, 3], "ref_labels"
  [B, K, H, W] int} -> face [B, H, W, 3] float32 in [-1, 1].

  refs are read only by sean (with ref_labels) and by `use_vae`; other
  modes ignore them. K may be dynamic.
  """

  SECTION = config_families.Label2FaceConfig

  def __init__(self, family_config, image_size, base_channels, **kwargs):
    super().__init__(family_config, image_size, base_channels, **kwargs)
    check(family_config, image_size)
    cfg = family_config
    widths = _widths(cfg.n_up, base_channels)
    self.base_size = image_size // 2**cfg.n_up
    norm = dict(mode=cfg.norm_mode, param_free=cfg.param_free_norm,
                hidden=cfg.spade_hidden, add_dist=cfg.add_dist,
                style_dim=cfg.style_dim)
    block = lambda w_in, w_out, name: semantic_norm.SemanticResBlock(
        w_in, w_out, cfg.label_nc, norm=norm, name=name)
    self.region_encoder = (_region_encoder(cfg, base_channels)
                           if cfg.norm_mode == "sean" else None)
    self.vae_encoder = (_vae_encoder(cfg, image_size, base_channels)
                        if cfg.use_vae else None)
    if cfg.use_vae:
      self.stem = keras.layers.Dense(self.base_size**2 * widths[0],
                                     name="stem")
    else:
      self.stem = blocks.ReflectConv2D(widths[0], 3, name="stem")
    self.head = block(widths[0], widths[0], "head")
    self.up_blocks = [block(widths[i], widths[i + 1], f"up_block_{i}")
                      for i in range(cfg.n_up)]
    self.upsample = keras.layers.UpSampling2D(2, name="upsample")
    self.conv_out = blocks.ReflectConv2D(3, 3, name="conv_out")
    self.tanh = keras.layers.Activation("tanh", dtype="float32", name="tanh")

  def call(self, inputs, training=False):
    style = self.encode_style(inputs, training=training)
    return self.generate(inputs["labels"], style, training=training)

  def encode_regions_per_image(self, photos, labels, training=False):
    """Photos [N, H, W, 3] + their class ids [N, H, W] -> (codes float32
    [N, L, S], present [N, L]): one code per region of each photo."""
    features = self.region_encoder(photos, training=training)
    return semantic_norm.region_average(
        features, one_hot(labels, self.family_config.label_nc))

  def encode_style(self, inputs, training=False):
    """The style part of the generator's input, as a dict of float32.

    sean: "style" [B, L, S] and "present" [B, L], region codes averaged over
    the K references that show each region; use_vae: "mu", "logvar"
    [B, style_dim], the references' posteriors averaged over K; else {}.
    """
    cfg, style = self.family_config, {}
    if cfg.norm_mode == "sean":
      refs, ref_labels = inputs["refs"], inputs["ref_labels"]
      shape = ops.shape(refs)
      codes, present = self.encode_regions_per_image(
          ops.reshape(refs, (-1, *shape[2:])),
          ops.reshape(ref_labels, (-1, *shape[2:4])), training)
      codes = ops.reshape(codes, (shape[0], shape[1], *codes.shape[1:]))
      present = ops.reshape(present, (shape[0], shape[1], -1))
      style["style"], style["present"] = semantic_norm.average_present(
          codes, present)
    if cfg.use_vae:
      refs = inputs["refs"]
      shape = ops.shape(refs)
      mu, logvar = self.vae_encoder(ops.reshape(refs, (-1, *shape[2:])),
                                    training=training)
      style["mu"] = ops.mean(ops.reshape(mu, (shape[0], shape[1], -1)), 1)
      style["logvar"] = ops.mean(
          ops.reshape(logvar, (shape[0], shape[1], -1)), 1)
    return style

  def _start(self, labels_1hot, style, training):
    """The first feature map [B, base, base, widths[0]]."""
    if not self.family_config.use_vae:
      return self.stem(semantic_norm.resize_nearest(labels_1hot,
                                                    self.base_size))
    z = style["mu"]
    if training:  # Reparametrisation; inference takes the mean code.
      z = z + tf.random.normal(ops.shape(z)) * ops.exp(0.5 * style["logvar"])
    x = self.stem(z)
    return ops.reshape(x, (-1, self.base_size, self.base_size,
                           self.stem.units // self.base_size**2))

  def generate(self, labels, style, training=False):
    """Class ids [B, H, W] + `encode_style`'s dict -> image float32."""
    labels_1hot = one_hot(labels, self.family_config.label_nc)
    condition = {"labels": labels_1hot, **style}
    if self.family_config.add_dist:
      condition["dist"] = semantic_norm.intra_class_offsets(labels_1hot)
    x = self.head(self._start(labels_1hot, style, training), condition,
                  training=training)
    for block in self.up_blocks:
      x = block(self.upsample(x), condition, training=training)
    x = ops.leaky_relu(x, negative_slope=0.2)
    return self.tanh(self.conv_out(x))


def dummy_inputs(image_size, batch=1, k_refs=1):
  """Zero inputs of every key the generator may read (the sketch:
  pix2pixHD's with --edge_source=sketch)."""
  size = image_size
  return {"labels": ops.zeros((batch, size, size), "int32"),
          "sketch": ops.zeros((batch, size, size, 1)),
          "refs": ops.zeros((batch, k_refs, size, size, 3)),
          "ref_labels": ops.zeros((batch, k_refs, size, size), "int32")}


def build_generator(family_config, image_size, base_channels, k_refs=1):
  """A built `Label2FaceGenerator` (dummy batch of 1 with k_refs refs)."""
  generator = Label2FaceGenerator(family_config, image_size, base_channels,
                                  name="generator")
  generator(dummy_inputs(image_size, k_refs=k_refs))
  return generator


def build_discriminator(family_config, image_size):
  """The multi-scale PatchGAN on (image, one-hot label map).

  Call it with (image, `one_hot(labels, label_nc)`): the conditioning input
  is concatenated to the image at every scale, as in SPADE / pix2pixHD.
  """
  return patchgan.build_discriminator(family_config, image_size,
                                      family_config.label_nc)
