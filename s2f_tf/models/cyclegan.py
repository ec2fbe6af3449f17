"""CycleGAN: ResNet generator, 70x70 PatchGAN, and the history image pool.

Zhu et al. 2017, arXiv:1703.10593, the unpaired baseline U-GAT-IT is
measured against. The generator is Johnson et al.'s (arXiv:1603.08155):
c7s1-64, d128, d256, n residual blocks, u128, u64, c7s1-3 with instance
norm, ReLU and tanh (9 blocks at 256 px, 6 at <= 128). Every conv pads by
reflection, as the paper says its code does against border artefacts; the
two up-sampling layers are stride-2 transposed convs ("fractional-strided").
The discriminator is the 70x70 PatchGAN of pix2pix (Isola et al. 2017,
arXiv:1611.07004): C64-C128-C256-C512, 4x4 convs with one pixel of zero
padding, instance norm on all but the first, LeakyReLU 0.2, then a 4x4 conv
to one logit per patch. Weights start at N(0, 0.02) as in the paper.

Losses (`s2f_tf.losses`): LSGAN, `cycle_loss` x10 and `identity_loss` x5
(0.5 x the cycle weight); D sees fakes through `ImagePool`.
"""

import keras
from keras import ops
import tensorflow as tf

from s2f_tf.layers import blocks
from s2f_tf.layers import normalization

DOWNSAMPLE = 2  # d128, d256 and u128, u64.
PATCH_LAYERS = 3  # Stride-2 convs of the 70x70 PatchGAN.
MIN_PATCH_MAP = 3  # Two stride-1 4x4 convs with padding 1 take 2 pixels.
POOL_SIZE = 50  # CycleGAN's history of generated images.


def default_res_blocks(image_size: int) -> int:
  """The paper's residual blocks: 9 above 128 px, 6 at 128 px or below."""
  return 9 if image_size > 128 else 6


def gaussian_init(model: keras.Model) -> None:
  """Every conv kernel ~ N(0, 0.02), the paper's initialisation."""
  init = keras.initializers.RandomNormal(0.0, 0.02)
  for v in model.trainable_variables:
    if v.path.endswith("/kernel"):
      v.assign(init(v.shape, v.dtype))


@keras.saving.register_keras_serializable(package="s2f_tf")
class CycleGANGenerator(keras.Model):
  """image [B, S, S, 3] -> image float32 [B, S, S, 3] in [-1, 1]."""

  def __init__(self, image_size, base_channels=64, n_res=None,
               residual_output=False, **kwargs):
    super().__init__(**kwargs)
    n_res = default_res_blocks(image_size) if n_res is None else n_res
    factor = 2**DOWNSAMPLE
    if image_size < 2 * factor or image_size % factor or n_res < 0:
      raise ValueError(f"CycleGAN image_size={image_size} must be a multiple "
                       f"of {factor} and >= {2 * factor}, n_res={n_res} >= 0")
    self.image_size, self.base_channels, self.n_res = (image_size,
                                                       base_channels, n_res)
    self.residual_output = residual_output
    stack = blocks.resnet_body(base_channels, DOWNSAMPLE, n_res,
                               block_name="res_block")
    stack.append(blocks.ReflectConv2D(3, 7, name="to_rgb"))
    if not residual_output:
      stack.append(keras.layers.Activation("tanh", dtype="float32",
                                           name="tanh"))
    self.net = keras.Sequential(stack, name="net")

  def zero_residual(self) -> None:
    """With residual_output: zeros to_rgb, so the generator is the identity
    mapping until training moves it (`blocks.residual_image`)."""
    blocks.zero_weights(self.net.get_layer("to_rgb"))

  def call(self, images, training=None):
    out = self.net(images, training=training)
    return blocks.residual_image(images, out) if self.residual_output else out

  def get_config(self):
    return {"name": self.name, "image_size": self.image_size,
            "base_channels": self.base_channels, "n_res": self.n_res,
            "residual_output": self.residual_output}


def build_cyclegan_generator(image_size, base_channels=64, n_res=None,
                             name="cyclegan_generator") -> CycleGANGenerator:
  """A built, N(0, 0.02)-initialised generator; n_res None: the paper's."""
  generator = CycleGANGenerator(image_size, base_channels, n_res, name=name)
  generator(ops.zeros((1, image_size, image_size, 3)))
  gaussian_init(generator)
  return generator


def _patch_conv(filters, strides, name, norm):
  """Zero-pad 1, 4x4 conv, [instance norm], LeakyReLU 0.2."""
  stack = [keras.layers.ZeroPadding2D(1, name=f"{name}_pad"),
           keras.layers.Conv2D(filters, 4, strides=strides, use_bias=not norm,
                               name=name)]
  if norm:
    stack.append(normalization.InstanceNorm(name=f"{name}_norm"))
  return stack + [keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")]


@keras.saving.register_keras_serializable(package="s2f_tf")
class CycleGANDiscriminator(keras.Model):
  """image [B, S, S, 3] -> logits float32 [B, S/8 - 2, S/8 - 2, 1].

  Each logit judges a 70x70 patch (with n_layers=3); at 256 px the map is
  30x30, as in the authors' code.
  """

  def __init__(self, image_size, base_channels=64, n_layers=PATCH_LAYERS,
               **kwargs):
    super().__init__(**kwargs)
    if n_layers < 1 or image_size // 2**n_layers < MIN_PATCH_MAP:
      raise ValueError(
          f"CycleGAN discriminator n_layers={n_layers} at image_size="
          f"{image_size}: need n_layers >= 1 and image_size // 2**n_layers "
          f">= {MIN_PATCH_MAP}")
    self.image_size, self.base_channels = image_size, base_channels
    self.n_layers = n_layers
    c = base_channels
    stack = _patch_conv(c, 2, "conv_0", norm=False)
    for i in range(1, n_layers + 1):
      stack += _patch_conv(c * min(2**i, 8), 2 if i < n_layers else 1,
                           f"conv_{i}", norm=True)
    stack += [keras.layers.ZeroPadding2D(1, name="logits_pad"),
              keras.layers.Conv2D(1, 4, name="logits"),
              keras.layers.Activation("linear", dtype="float32",
                                      name="float32")]
    self.net = keras.Sequential(stack, name="net")

  def call(self, images, training=None):
    return self.net(images, training=training)

  def get_config(self):
    return {"name": self.name, "image_size": self.image_size,
            "base_channels": self.base_channels, "n_layers": self.n_layers}


def build_cyclegan_discriminator(image_size, base_channels=64,
                                 n_layers=PATCH_LAYERS,
                                 name="cyclegan_discriminator"
                                 ) -> CycleGANDiscriminator:
  """A built, N(0, 0.02)-initialised 70x70 PatchGAN (n_layers=3)."""
  discriminator = CycleGANDiscriminator(image_size, base_channels, n_layers,
                                        name=name)
  discriminator(ops.zeros((1, image_size, image_size, 3)))
  gaussian_init(discriminator)
  return discriminator


class ImagePool(tf.Module):
  """A history of generated images that D is shown instead of the newest.

  Shrivastava et al. 2017, arXiv:1612.07828 (Sec. 2.3), as CycleGAN uses it
  (Zhu et al. 2017, Sec. 4): a discriminator that only sees the current
  generator's images forgets old modes, and G can cycle back to them. For
  each image of the batch, in order: while the pool holds fewer than
  `pool_size` images it is stored and returned unchanged; after that, with
  probability `swap_probability` it replaces a uniformly chosen stored image,
  which is returned in its place, else it is returned unchanged.

  State is two `tf.Variable`s (`images`, `count`), so the pool works inside a
  compiled step and is checkpointed with it; outputs are float32 and carry
  no gradient. Randomness comes from the pool's own `tf.random.Generator`
  (seeded by `seed`, else from the OS), whose state is also a variable: a
  restored run draws what the original would have drawn. Under XLA
  (`jit_compile`) the same state gives other draws of the same distribution.

  Under a `tf.distribute` strategy create the pool inside `strategy.scope()`:
  the variables are then sync-on-read, so each replica keeps its own pool
  of `pool_size` images of its own batches (as CycleGAN's code does per
  process), and the generator gives each replica its own stream.
  Checkpoints save the first replica's pool.
  """

  def __init__(self, image_shape, pool_size=POOL_SIZE, swap_probability=0.5,
               seed=None, name="image_pool"):
    super().__init__(name=name)
    if pool_size < 0 or not 0.0 <= swap_probability <= 1.0:
      raise ValueError(f"ImagePool pool_size={pool_size} must be >= 0 and "
                       f"swap_probability={swap_probability} in [0, 1]")
    self.pool_size, self.swap_probability = pool_size, swap_probability
    per_replica = dict(
        trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.images = tf.Variable(tf.zeros([pool_size, *image_shape]),
                              name="images", **per_replica)
    self.count = tf.Variable(0, name="count", **per_replica)
    self.rng = (tf.random.Generator.from_non_deterministic_state()
                if seed is None else tf.random.Generator.from_seed(seed))

  def __call__(self, images):
    """images [B, H, W, C] -> [B, H, W, C] float32, partly from the pool."""
    images = tf.stop_gradient(tf.cast(images, tf.float32))
    if self.pool_size == 0:
      return images

    def store(slot, image):
      # The whole buffer is rewritten: sync-on-read variables have no
      # scatter update. That is pool_size images of traffic per stored
      # image (39 MB at 256 px), small beside a step of the networks.
      self.images.assign(tf.tensor_scatter_nd_update(
          self.images, tf.reshape(slot, [1, 1]), image[None]))

    def fill(image):
      store(self.count.read_value(), image)
      self.count.assign_add(1)
      return image

    def maybe_swap(image):
      # Both draws every time: the stream advances the same whatever happens.
      swap = self.rng.uniform([]) < self.swap_probability
      slot = self.rng.uniform([], 0, self.pool_size, dtype=tf.int32)

      def swapped():
        stored = tf.gather(self.images, slot)
        with tf.control_dependencies([stored]):
          store(slot, image)
        return tf.identity(stored)

      return tf.cond(swap, swapped, lambda: image)

    def body(i, out):
      image = images[i]
      result = tf.cond(self.count < self.pool_size, lambda: fill(image),
                       lambda: maybe_swap(image))
      return i + 1, out.write(i, result)

    n = tf.shape(images)[0]
    _, out = tf.while_loop(
        lambda i, _: i < n, body,
        (tf.constant(0), tf.TensorArray(tf.float32, size=n)))
    return tf.ensure_shape(out.stack(), images.shape)
