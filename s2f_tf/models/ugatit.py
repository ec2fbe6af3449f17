"""U-GAT-IT: the CAM-attention AdaLIN generator and its CAM PatchGAN.

Kim et al. 2020, arXiv:1907.10830, as the paper and the authors' code
define the networks. The generator encodes with reflection-padded convs and
instance norm, then an auxiliary classifier on the GAP and GMP features
(`attention.CAMAttention`) says "source or target domain?"; its weights
reweight the channels, so the decoder sees most of what tells the domains
apart. An MLP turns the reweighted map into one gamma and one beta, shared
by every AdaLIN of the residual decoder (as in the authors' code); nearest
x2 up-sampling with LIN and a 7x7 conv + tanh give the image. `light`
feeds the MLP the globally average-pooled features instead of the whole
flattened map: at 256 px and 64 channels that one layer is 268M of the
full generator's 279M weights; light has 10.6M (`generator_parameter_count`).

The discriminator is a spectral-norm PatchGAN with its own CAM branch
before the logits conv; each domain has a global (7-layer) and a local
(5-layer) one. Every conv pads by reflection, as the official code does;
unlike its 4x4 stride-1 convs with one pixel of padding, ours keep the
map's size, so at 256 px the patch maps are 8x8 and 32x32, not 6x6 and
30x30 (same receptive fields).

How the unpaired task meets the paper's losses (`s2f_tf.losses`):
  * G's CAM: `cam_discriminator_loss(G_ab(x_a) cam, G_ab(x_b) cam)`, the
    BCE of source -> 1 and target -> 0 (weight 1000 in the paper).
  * D's outputs and CAM logits: `lsgan_discriminator_loss`, and G's
    adversarial terms `lsgan_generator_loss`, each over the list
    [global, local]. The paper sums MSEs without the 1/2 over both
    discriminators, which is 4x these (weights 1 there).
  * `cycle_loss` x10 and `identity_loss` x10.

Outputs are dicts of float32 tensors whatever the dtype policy. Every layer
has a fixed name under the model's, so variables read like
`generator_a2b/decoder_block_0/adalin_1/rho` and two generators (or four
discriminators) never share a variable path.
"""

import math

import keras
from keras import ops

from s2f_tf.layers import attention
from s2f_tf.layers import blocks
from s2f_tf.layers import spectral_norm

DOWNSAMPLE = 2  # Stride-2 convs in G's encoder, up-blocks in its decoder.
GLOBAL_LAYERS, LOCAL_LAYERS = 7, 5  # The paper's discriminator depths.
MIN_PATCH_MAP = 3  # A 4x4 reflection-padded conv needs a map of 3 or more.


def check_generator(image_size: int, n_res: int) -> None:
  factor = 2**DOWNSAMPLE
  if image_size < 2 * factor or image_size % factor:
    raise ValueError(f"U-GAT-IT image_size={image_size} must be a multiple "
                     f"of {factor} and >= {2 * factor}")
  if n_res < 1:
    raise ValueError(f"U-GAT-IT n_res={n_res} must be >= 1: the domain "
                     "style enters through the AdaLIN residual blocks")


def _patch_map_size(image_size: int, n_layers: int) -> int:
  return math.ceil(image_size / 2**(n_layers - 2))


def discriminator_layers(image_size: int):
  """(global, local) depths: the paper's 7 and 5, fewer on small images.

  A depth n halves the image n - 2 times, and the map must stay
  >= MIN_PATCH_MAP for the last convs' reflection padding: at 64 px this
  gives (6, 4), at 32 px (5, 3). The local one stays two layers shallower.
  """
  fits = [n for n in range(3, GLOBAL_LAYERS + 1)
          if _patch_map_size(image_size, n) >= MIN_PATCH_MAP]
  if not fits or fits[-1] < 5:
    raise ValueError("U-GAT-IT's global and local discriminators need "
                     f"image_size >= 17, got {image_size}")
  return fits[-1], min(LOCAL_LAYERS, fits[-1] - 2)


def generator_parameter_count(image_size: int, base_channels: int = 64,
                              n_res: int = 4, light: bool = False) -> int:
  """The generator's weights, in closed form (tests check Keras agrees).

  c = base_channels, C = 4c at the bottleneck, m = image_size / 4:
  encoder 49*3c + sum of the two 3x3 down convs + n_res * 18 C^2;
  CAM 2C + 2C^2 + C; MLP (m^2 C if full, C if light) * C + C^2, gamma and
  beta 2 C^2; decoder n_res * (18 C^2 + 2C) (two rho per block); up-blocks
  9 w_in w_out + 3 w_out (LIN's rho, gamma, beta); to_rgb 49 * 3c. Only
  the MLP's first layer depends on `light`: full - light = (m^2 - 1) C^2.
  """
  c, width = base_channels, base_channels * 2**DOWNSAMPLE
  m = image_size // 2**DOWNSAMPLE
  count = 49 * 3 * c + 49 * c * 3  # conv_in and to_rgb.
  for i in range(DOWNSAMPLE):  # Down convs and up-blocks mirror each other.
    w_in, w_out = c * 2**i, c * 2**(i + 1)
    count += 9 * w_in * w_out + 9 * w_out * w_in + 3 * w_in
  count += n_res * 18 * width**2  # Encoder residual blocks.
  count += 2 * width + 2 * width**2 + width  # CAM.
  count += (width if light else m * m * width) * width + 3 * width**2  # MLP.
  count += n_res * (18 * width**2 + 2 * width)  # AdaLIN residual blocks.
  return count


def _gamma_beta_mlp(width: int, light: bool) -> keras.Sequential:
  """Features [B, m, m, C] -> [B, C] hidden for the gamma and beta heads."""
  dense = lambda name: keras.layers.Dense(width, activation="relu",
                                          use_bias=False, name=name)
  reduce = (keras.layers.GlobalAveragePooling2D(name="pool") if light
            else keras.layers.Flatten(name="flatten"))
  return keras.Sequential([reduce, dense("dense_0"), dense("dense_1")],
                          name="mlp")


@keras.saving.register_keras_serializable(package="s2f_tf")
class UGATITGenerator(keras.Model):
  """image [B, S, S, 3] -> {"image", "cam_logits", "heatmap"}, float32.

  image [B, S, S, 3] in [-1, 1]; cam_logits [B, 2] (GAP, GMP) of the
  source-vs-target classifier; heatmap [B, S/4, S/4, 1], the attention map
  (`attention.heatmap`). rho of every AdaLIN and LIN stays in [0, 1]
  (`normalization.UnitInterval`).
  """

  def __init__(self, image_size, base_channels=64, n_res=4, light=False,
               residual_output=False, **kwargs):
    super().__init__(**kwargs)
    check_generator(image_size, n_res)
    self.image_size, self.base_channels = image_size, base_channels
    self.n_res, self.light = n_res, light
    self.residual_output = residual_output
    width = base_channels * 2**DOWNSAMPLE
    stack = blocks.conv_norm_relu(base_channels, 7, 1, "conv_in",
                                  use_bias=False)
    for i in range(DOWNSAMPLE):
      stack += blocks.conv_norm_relu(base_channels * 2**(i + 1), 3, 2,
                                     f"down_{i}", use_bias=False)
    stack += [blocks.ResBlock(width, use_bias=False, name=f"res_block_{i}")
              for i in range(n_res)]
    self.encoder = keras.Sequential(stack, name="encoder")
    self.cam = attention.CAMAttention(name="cam")
    self.mlp = _gamma_beta_mlp(width, light)
    self.gamma = keras.layers.Dense(width, use_bias=False, name="gamma")
    self.beta = keras.layers.Dense(width, use_bias=False, name="beta")
    self.decoder_blocks = [
        blocks.AdaLINResBlock(width, use_bias=False, name=f"decoder_block_{i}")
        for i in range(n_res)]
    self.up_blocks = [
        blocks.up_block(width // 2**(i + 1), f"up_{i}", kernel_size=3,
                        use_bias=False)
        for i in range(DOWNSAMPLE)]
    self.to_rgb = blocks.ReflectConv2D(3, 7, use_bias=False, name="to_rgb")
    self.tanh = keras.layers.Activation("tanh", dtype="float32", name="tanh")

  def zero_residual(self) -> None:
    """With residual_output: zeros to_rgb, so the generator is the
    identity mapping (`blocks.residual_image`) until training moves it."""
    blocks.zero_weights(self.to_rgb)

  def call(self, images, training=None):
    x = self.encoder(images, training=training)
    x, cam_logits = self.cam(x, training=training)
    hidden = self.mlp(x, training=training)
    gamma, beta = self.gamma(hidden), self.beta(hidden)
    # One gamma and beta for both AdaLINs of every block (authors' code).
    params = ops.concatenate([gamma, beta, gamma, beta], axis=-1)
    y = x
    for block in self.decoder_blocks:
      y = block((y, params), training=training)
    for block in self.up_blocks:
      y = block(y, training=training)
    y = self.to_rgb(y)
    image = (blocks.residual_image(images, y) if self.residual_output
             else self.tanh(y))
    return {"image": image, "cam_logits": cam_logits,
            "heatmap": attention.heatmap(x)}

  def get_config(self):
    return {"name": self.name, "image_size": self.image_size,
            "base_channels": self.base_channels, "n_res": self.n_res,
            "light": self.light, "residual_output": self.residual_output}


def build_ugatit_generator(image_size, base_channels=64, n_res=4, light=False,
                           name="ugatit_generator") -> UGATITGenerator:
  """A built `UGATITGenerator` (module docstring; paper: 64, 4, 256 px)."""
  generator = UGATITGenerator(image_size, base_channels, n_res, light,
                              name=name)
  generator(ops.zeros((1, image_size, image_size, 3)))
  return generator


def _sn_conv(filters, strides, name, use_bias=True):
  """Spectral-norm 4x4 reflection-padded conv, variables `name/conv/...`."""
  return spectral_norm.SpectralNorm(
      blocks.ReflectConv2D(filters, 4, strides=strides, use_bias=use_bias,
                           name="conv"), name=name)


@keras.saving.register_keras_serializable(package="s2f_tf")
class UGATITDiscriminator(keras.Model):
  """image [B, S, S, 3] -> {"logits", "cam_logits", "heatmap"}, float32.

  n_layers - 2 stride-2 convs from base_channels, doubling; one stride-1
  conv doubling again; a spectral-norm CAM with LeakyReLU 0.2; a bias-free
  conv to one logit per patch. logits [B, h, h, 1] with h =
  ceil(S / 2**(n_layers - 2)), cam_logits [B, 2] (real-vs-fake), heatmap
  [B, h, h, 1]. Spectral norm (Miyato et al. 2018, arXiv:1802.05957) on
  every conv and CAM weight; no other normalisation.
  """

  def __init__(self, image_size, base_channels=64, n_layers=GLOBAL_LAYERS,
               **kwargs):
    super().__init__(**kwargs)
    if n_layers < 3 or _patch_map_size(image_size, n_layers) < MIN_PATCH_MAP:
      raise ValueError(
          f"U-GAT-IT discriminator n_layers={n_layers} at image_size="
          f"{image_size}: need n_layers >= 3 and image_size / "
          f"2**(n_layers - 2) >= {MIN_PATCH_MAP}; discriminator_layers("
          f"{image_size}) gives depths that fit")
    self.image_size, self.base_channels = image_size, base_channels
    self.n_layers = n_layers
    self.convs = [_sn_conv(base_channels * 2**i, 2, f"conv_{i}")
                  for i in range(n_layers - 2)]
    self.convs.append(_sn_conv(base_channels * 2**(n_layers - 2), 1,
                               f"conv_{n_layers - 2}"))
    self.cam = attention.CAMAttention(0.2, spectral_norm=True, name="cam")
    self.logits = _sn_conv(1, 1, "logits", use_bias=False)

  def call(self, images, training=None):
    x = images
    for conv in self.convs:
      x = ops.leaky_relu(conv(x, training=training), negative_slope=0.2)
    x, cam_logits = self.cam(x, training=training)
    return {"logits": ops.cast(self.logits(x, training=training), "float32"),
            "cam_logits": cam_logits, "heatmap": attention.heatmap(x)}

  def get_config(self):
    return {"name": self.name, "image_size": self.image_size,
            "base_channels": self.base_channels, "n_layers": self.n_layers}


def build_ugatit_discriminator(image_size, base_channels=64,
                               n_layers=GLOBAL_LAYERS,
                               name="ugatit_discriminator"
                               ) -> UGATITDiscriminator:
  """A built `UGATITDiscriminator`: n_layers 7 (global) or 5 (local)."""
  discriminator = UGATITDiscriminator(image_size, base_channels, n_layers,
                                      name=name)
  discriminator(ops.zeros((1, image_size, image_size, 3)))
  return discriminator
