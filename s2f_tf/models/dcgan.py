"""DCGAN and WGAN baselines: noise -> 32, 64 or 128 px image, and its critic.

The unconditional baselines that `--model=dcgan` trains on the same loop as
the sketch-to-face model, to tell a problem of the loop or of an objective
from a problem of our networks. The architecture is DCGAN's (Radford et al.
2016, arXiv:1511.06434): the generator projects z to 4x4 and doubles the
size with strided transposed convs, batch norm and ReLU, ending in tanh; the
discriminator halves it with strided convs and LeakyReLU 0.2, batch norm on
every layer but the first, down to 4x4, then one 4x4 conv to a logit.

Both return logits, never a sigmoid: `losses` takes logits for every
objective, and WGAN's critic (Arjovsky et al. 2017, arXiv:1701.07875) has no
sigmoid at all. With `batch_norm=False` the critic uses layer norm instead,
as WGAN-GP recommends (Gulrajani et al. 2017, arXiv:1704.00028, Sec. 4):
batch norm makes each example's output depend on the rest of the batch,
which breaks the per-example gradient penalty.

Layers have fixed names, so variables read like
`dcgan_generator/up_1/conv/kernel`, and models come back built.
"""

import math

import keras
from keras import ops

SIZES = (32, 64, 128)
FIRST_SIZE = 4  # G starts, D ends, at 4x4 (DCGAN).
# DCGAN's initialisation (Sec. 4): every weight ~ N(0, 0.02), and batch
# norm's scale ~ N(1, 0.02) as in the authors' code.
_KERNEL_INIT = keras.initializers.RandomNormal(0.0, 0.02)
_GAMMA_INIT = keras.initializers.RandomNormal(1.0, 0.02)


def _stages(image_size: int) -> int:
  """Stride-2 layers between 4x4 and `image_size`."""
  if image_size not in SIZES:
    raise ValueError(f"DCGAN image_size must be one of {SIZES}, got "
                     f"{image_size}")
  return int(math.log2(image_size // FIRST_SIZE))


def _batch_norm():
  # momentum 0.9 (PyTorch's 0.1): the moving statistics that sample grids and
  # exports use keep up with a generator that changes every step.
  return keras.layers.BatchNormalization(
      momentum=0.9, epsilon=1e-5, gamma_initializer=_GAMMA_INIT, name="bn")


def _up(filters: int, name: str) -> keras.Sequential:
  """x2 by a 4x4 stride-2 transposed conv, batch norm, ReLU."""
  return keras.Sequential([
      keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                   use_bias=False,
                                   kernel_initializer=_KERNEL_INIT,
                                   name="conv"),
      _batch_norm(),
      keras.layers.ReLU(name="relu"),
  ], name=name)


def build_dcgan_generator(z_dim: int = 100, image_size: int = 64,
                          base_channels: int = 64) -> keras.Model:
  """z [B, z_dim] -> image float32 [B, S, S, 3] in [-1, 1] (DCGAN's G).

  Widths halve from base_channels * 2**(stages - 1) at 4x4 to base_channels
  at S / 2; the last transposed conv makes RGB. Only layers no norm follows
  have a bias. tanh runs in float32, so outputs are float32 under every
  mixed-precision policy.
  """
  n = _stages(image_size)
  width = base_channels * 2**(n - 1)
  project = keras.Sequential([
      keras.layers.Dense(FIRST_SIZE * FIRST_SIZE * width, use_bias=False,
                         kernel_initializer=_KERNEL_INIT, name="dense"),
      keras.layers.Reshape((FIRST_SIZE, FIRST_SIZE, width), name="reshape"),
      _batch_norm(),
      keras.layers.ReLU(name="relu"),
  ], name="project")
  ups = [_up(width // 2**i, f"up_{i}") for i in range(1, n)]
  to_rgb = keras.Sequential([
      keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same",
                                   kernel_initializer=_KERNEL_INIT,
                                   name="conv"),
      keras.layers.Activation("tanh", dtype="float32", name="tanh"),
  ], name="to_rgb")
  generator = keras.Sequential([keras.Input((z_dim,)), project, *ups, to_rgb],
                               name="dcgan_generator")
  generator(ops.zeros((1, z_dim)))
  return generator


def _critic_norm(batch_norm: bool) -> keras.layers.Layer:
  if batch_norm:
    return _batch_norm()
  # Over (H, W, C) per example: layer norm as in WGAN-GP's code.
  return keras.layers.LayerNormalization(axis=(1, 2, 3), epsilon=1e-5,
                                         name="ln")


def build_dcgan_discriminator(image_size: int = 64, base_channels: int = 64,
                              batch_norm: bool = True) -> keras.Model:
  """image [B, S, S, 3] -> logits float32 [B] (DCGAN's D, or a WGAN critic).

  Widths double from base_channels at S / 2 to base_channels *
  2**(stages - 1) at 4x4. `batch_norm=False` is the WGAN / WGAN-GP critic:
  layer norm instead of batch norm (module docstring).
  """
  n = _stages(image_size)
  downs = []
  for i in range(n):
    block = [keras.layers.Conv2D(base_channels * 2**i, 4, strides=2,
                                 padding="same", use_bias=i == 0,
                                 kernel_initializer=_KERNEL_INIT, name="conv")]
    if i:  # DCGAN: no norm on the first layer, which sees the raw image.
      block.append(_critic_norm(batch_norm))
    block.append(keras.layers.LeakyReLU(0.2, name="lrelu"))
    downs.append(keras.Sequential(block, name=f"down_{i + 1}"))
  discriminator = keras.Sequential([
      keras.Input((image_size, image_size, 3)), *downs,
      keras.layers.Conv2D(1, FIRST_SIZE, kernel_initializer=_KERNEL_INIT,
                          name="logits"),
      keras.layers.Reshape((), name="flatten"),
      keras.layers.Activation("linear", dtype="float32", name="float32"),
  ], name="dcgan_discriminator")
  discriminator(ops.zeros((1, image_size, image_size, 3)))
  return discriminator
