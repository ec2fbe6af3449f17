"""StyleGAN2: mapping network, skip generator, residual discriminator.

Karras et al. 2020, arXiv:1912.04958 (configuration F at small scale). The
generator maps z through an 8-layer equalized MLP (learning rate x0.01) to
w, then draws the image from a learnt 4x4 constant with modulated,
demodulated 3x3 convs (`layers.modulated_conv`), per-layer noise, and a
toRGB at every resolution whose outputs are upsampled and summed (the
"skip" generator, Fig. 7b). The discriminator is residual (Fig. 7c) with a
minibatch-stddev channel before its 4x4 epilogue. Every weight has an
equalized learning rate (`layers.equalized`).

Two simplifications for small images and CPUs, both noted where they occur:
upsampling and downsampling are bilinear resize and 2x2 average pooling
instead of the paper's [1, 3, 3, 1] FIR filters (bilinear x2 is that filter
with clamped edges), and the discriminator pools before its second conv
instead of a blurred stride-2 conv.

One w per synthesis layer: ws [B, num_ws, w_dim], num_ws = 2 log2(S) - 2;
each toRGB shares its index with the next resolution's first conv, as in
the authors' code. The generator keeps w_avg, the running mean of w
(decay 0.995), for truncation psi at sampling time (Sec. C of StyleGAN,
arXiv:1812.04948).
"""

import math

import keras
from keras import ops
import tensorflow as tf

from s2f_tf.layers import equalized
from s2f_tf.layers import modulated_conv

FIRST_SIZE = 4
MAPPING_LR = 0.01  # StyleGAN2's mapping-network learning-rate multiplier.
W_AVG_BETA = 0.995  # Decay of w_avg (StyleGAN2's w_avg_beta).


def resolutions(image_size: int):
  """4, 8, ..., image_size; image_size must be a power of two >= 8."""
  n = int(math.log2(image_size)) if image_size >= 8 else 0
  if n < 3 or 2**n != image_size:
    raise ValueError(f"StyleGAN2 image_size must be a power of two >= 8, got "
                     f"{image_size}")
  return [2**i for i in range(2, n + 1)]


def widths(image_size: int, base_channels: int):
  """{resolution: channels}: base_channels at full size, x2 per halving, up
  to 8 x base_channels (StyleGAN2's channel_base / res, capped)."""
  return {res: min(base_channels * image_size // res, 8 * base_channels)
          for res in resolutions(image_size)}


def num_ws(image_size: int) -> int:
  return 2 * len(resolutions(image_size))


def mix_styles(w1, w2, num_layers: int, probability):
  """ws [B, num_layers, D]: w1 before a random crossover layer, w2 after.

  Style-mixing regularisation (StyleGAN, arXiv:1812.04948, Sec. 3.1; p =
  0.9 in StyleGAN2): with `probability` one crossover c ~ U{1, ...,
  num_layers - 1} for the whole batch, as in the authors' code, else no
  mixing (every layer gets w1). Adjacent layers then cannot assume they
  share a style, which localises what each layer controls.
  """
  cutoff = tf.random.uniform([], 1, num_layers, dtype=tf.int32)
  cutoff = tf.where(tf.random.uniform([]) < probability, cutoff, num_layers)
  before = tf.range(num_layers)[None, :, None] < cutoff
  return tf.where(before, w1[:, None, :], w2[:, None, :])


@keras.saving.register_keras_serializable(package="s2f_tf")
class MappingNetwork(keras.layers.Layer):
  """z -> w: normalise z's second moment, then equalized lrelu MLP layers.

  Karras et al. 2019/2020, arXiv:1812.04948 Sec. 2 and arXiv:1912.04958.
  Runs in float32: it is a few small matmuls, and w feeds demodulation.
  """

  def __init__(self, w_dim, num_layers=8, **kwargs):
    kwargs.setdefault("dtype", "float32")
    super().__init__(**kwargs)
    self.w_dim, self.num_layers = w_dim, num_layers
    self.fcs = [equalized.EqualizedDense(
        w_dim, lr_multiplier=MAPPING_LR, activation="lrelu", dtype="float32",
        name=f"fc{i}")
                for i in range(num_layers)]

  def build(self, input_shape):
    shape = input_shape
    for fc in self.fcs:
      fc.build(shape)
      shape = (*shape[:-1], self.w_dim)

  def call(self, z):
    x = ops.cast(z, "float32")
    x = x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + 1e-8)
    for fc in self.fcs:
      x = fc(x)
    return x

  def compute_output_shape(self, input_shape):
    return (*input_shape[:-1], self.w_dim)

  def get_config(self):
    return {**super().get_config(), "w_dim": self.w_dim,
            "num_layers": self.num_layers}


def _upsample(x):
  """x2 bilinear: StyleGAN2's [1, 3, 3, 1] filter with clamped edges."""
  return ops.image.resize(x, (2 * x.shape[1], 2 * x.shape[2]),
                          interpolation="bilinear")


@keras.saving.register_keras_serializable(package="s2f_tf")
class SynthesisNetwork(keras.layers.Layer):
  """ws [B, num_ws, w_dim] -> image float32 [B, S, S, 3] (skip generator).

  The toRGB outputs are summed in float32 under every precision policy.
  """

  def __init__(self, image_size, base_channels, **kwargs):
    super().__init__(**kwargs)
    self.image_size, self.base_channels = image_size, base_channels
    width = widths(image_size, base_channels)
    conv = lambda res, name: modulated_conv.ModulatedConv2D(
        width[res], 3, noise=True, name=f"b{res}_{name}")
    self.stages = []
    for res in resolutions(image_size):
      convs = ([conv(res, "conv")] if res == FIRST_SIZE else
               [conv(res, "conv0"), conv(res, "conv1")])
      to_rgb = modulated_conv.ModulatedConv2D(
          3, 1, demodulate=False, activation="linear", name=f"b{res}_torgb")
      self.stages.append((res, convs, to_rgb))

  def build(self, input_shape):
    w_shape = (input_shape[0], input_shape[-1])
    width = widths(self.image_size, self.base_channels)
    self.const = self.add_weight(
        name="const", shape=(1, FIRST_SIZE, FIRST_SIZE, width[FIRST_SIZE]),
        initializer="random_normal")
    channels = width[FIRST_SIZE]
    for res, convs, to_rgb in self.stages:
      for conv in convs:
        conv.build(((None, res, res, channels), w_shape))
        channels = width[res]
      to_rgb.build(((None, res, res, channels), w_shape))

  def call(self, ws, training=None):
    ws = ops.cast(ws, "float32")
    x = ops.tile(self.const, (ops.shape(ws)[0], 1, 1, 1))
    image, index = None, 0
    for res, convs, to_rgb in self.stages:
      if res > FIRST_SIZE:
        x, image = _upsample(x), _upsample(image)
      for conv in convs:
        x = conv((x, ws[:, index]), training=training)
        index += 1
      rgb = ops.cast(to_rgb((x, ws[:, index])), "float32")
      image = rgb if image is None else image + rgb
    return image

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.image_size, self.image_size, 3)

  def get_config(self):
    return {**super().get_config(), "image_size": self.image_size,
            "base_channels": self.base_channels}


@keras.saving.register_keras_serializable(package="s2f_tf")
class StyleGAN2Generator(keras.Model):
  """z [B, z_dim] -> image float32 [B, S, S, 3]; w_dim = z_dim.

  Holds two running means besides its weights: w_avg (truncation) and
  pl_mean (the path-length regulariser's state).

  `call` is the plain path (one w for every layer, no truncation). Training
  code uses `map` (which updates w_avg when asked), `mix_styles` and
  `synthesis`; sampling uses `generate(z, psi)`.
  """

  def __init__(self, z_dim=512, image_size=64, base_channels=32,
               mapping_layers=8, **kwargs):
    super().__init__(**kwargs)
    self.z_dim, self.image_size = z_dim, image_size
    self.base_channels, self.mapping_layers = base_channels, mapping_layers
    self.num_ws = num_ws(image_size)
    self.mapping = MappingNetwork(z_dim, mapping_layers, name="mapping")
    self.synthesis = SynthesisNetwork(image_size, base_channels,
                                      name="synthesis")

  def build(self, input_shape):
    self.mapping.build(input_shape)
    self.synthesis.build((None, self.num_ws, self.z_dim))
    self.w_avg = self.add_weight(name="w_avg", shape=(self.z_dim,),
                                 initializer="zeros", trainable=False,
                                 autocast=False, aggregation="mean")
    # The path-length regulariser's running mean (`losses.PathLengthPenalty`)
    # lives here so that it is checkpointed with the generator it describes.
    self.pl_mean = self.add_weight(name="pl_mean", shape=(),
                                   initializer="zeros", trainable=False,
                                   autocast=False, aggregation="mean")

  def map(self, z, psi=1.0, update_w_avg=False):
    """z -> w float32 [B, w_dim], truncated toward w_avg by psi.

    update_w_avg=True moves w_avg toward this batch's mean w (decay 0.995),
    like batch norm's moving mean; the training step asks for it once per
    batch of fresh latents.
    """
    w = ops.cast(self.mapping(z), "float32")
    if update_w_avg:
      batch_mean = ops.stop_gradient(ops.mean(w, axis=0))
      self.w_avg.assign(self.w_avg + (1.0 - W_AVG_BETA) *
                        (batch_mean - self.w_avg))
    return self.truncate(w, psi)

  def truncate(self, w, psi):
    """w_avg + psi (w - w_avg): psi < 1 trades variety for typical faces."""
    return self.w_avg + ops.cast(psi, "float32") * (w - self.w_avg)

  def broadcast(self, w):
    """w [B, D] -> ws [B, num_ws, D]: the same style for every layer."""
    return ops.repeat(w[:, None, :], self.num_ws, axis=1)

  def call(self, z, training=None):
    return self.synthesis(self.broadcast(self.map(z)), training=training)

  def generate(self, z, psi):
    """Inference: z and truncation psi -> image (fixed noise maps)."""
    return self.synthesis(self.broadcast(self.map(z, psi)), training=False)

  def mix(self, z, z2, psi, cutoff):
    """Inference with style mixing: layers [0, cutoff) (coarse: pose, face
    shape) styled by z, the rest (colours, detail) by z2 (StyleGAN,
    arXiv:1812.04948, Fig. 3); cutoff = num_ws gives z's own image."""
    before = ops.arange(self.num_ws)[None, :, None] < cutoff
    ws = ops.where(before, self.map(z, psi)[:, None, :],
                   self.map(z2, psi)[:, None, :])
    return self.synthesis(ws, training=False)

  def get_config(self):
    return {**super().get_config(), "z_dim": self.z_dim,
            "image_size": self.image_size,
            "base_channels": self.base_channels,
            "mapping_layers": self.mapping_layers}


def build_stylegan2_generator(z_dim=512, image_size=64, base_channels=32,
                              mapping_layers=8) -> StyleGAN2Generator:
  """A built generator (variables exist, names fixed)."""
  generator = StyleGAN2Generator(z_dim, image_size, base_channels,
                                 mapping_layers, name="stylegan2_generator")
  generator(ops.zeros((1, z_dim)))
  return generator


@keras.saving.register_keras_serializable(package="s2f_tf")
class DiscriminatorBlock(keras.layers.Layer):
  """Residual D block: (conv-lrelu, pool, conv-lrelu) + (pool, 1x1 conv).

  Karras et al. 2020, arXiv:1912.04958, Fig. 7c: the sum is scaled by
  1 / sqrt(2) to keep unit variance. Pooling before the second conv stands
  in for the paper's blurred stride-2 conv (module docstring).
  """

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters

  def build(self, input_shape):
    c = input_shape[-1]
    half = (input_shape[0], input_shape[1] // 2, input_shape[2] // 2, c)
    self.conv0 = equalized.EqualizedConv2D(c, 3, activation="lrelu",
                                           name="conv0")
    self.conv0.build(input_shape)
    self.conv1 = equalized.EqualizedConv2D(self.filters, 3,
                                           activation="lrelu", name="conv1")
    self.conv1.build(half)
    self.skip = equalized.EqualizedConv2D(self.filters, 1, use_bias=False,
                                          name="skip")
    self.skip.build(half)

  def call(self, x):
    pool = lambda t: ops.average_pool(t, 2, 2)
    y = self.conv1(pool(self.conv0(x)))
    return (y + self.skip(pool(x))) * ops.cast(math.sqrt(0.5), y.dtype)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], input_shape[1] // 2, input_shape[2] // 2,
            self.filters)

  def get_config(self):
    return {**super().get_config(), "filters": self.filters}


def build_stylegan2_discriminator(image_size=64, base_channels=32,
                                  mbstd_group=4) -> keras.Model:
  """image [B, S, S, 3] -> logits float32 [B] (StyleGAN2's resnet D).

  B must be divisible by min(mbstd_group, B) (`MinibatchStddev`).
  """
  width = widths(image_size, base_channels)
  images = keras.Input((image_size, image_size, 3))
  x = equalized.EqualizedConv2D(width[image_size], 1, activation="lrelu",
                                name=f"b{image_size}_fromrgb")(images)
  for res in reversed(resolutions(image_size)[1:]):
    x = DiscriminatorBlock(width[res // 2], name=f"b{res}")(x)
  x = modulated_conv.MinibatchStddev(mbstd_group, name="mbstd")(x)
  x = equalized.EqualizedConv2D(width[FIRST_SIZE], 3, activation="lrelu",
                                name="b4_conv")(x)
  x = keras.layers.Flatten(name="flatten")(x)
  x = equalized.EqualizedDense(width[FIRST_SIZE], activation="lrelu",
                               name="b4_fc")(x)
  x = equalized.EqualizedDense(1, name="out")(x)
  x = keras.layers.Reshape((), name="logits")(x)
  logits = keras.layers.Activation("linear", dtype="float32",
                                   name="float32")(x)
  return keras.Model(images, logits, name="stylegan2_discriminator")
