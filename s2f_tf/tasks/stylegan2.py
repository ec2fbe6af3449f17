"""Noise -> image with StyleGAN2 (Karras et al. 2020, arXiv:1912.04958).

The unconditional task's data, sampler, grid and evaluation, with
StyleGAN2's networks and objective: the non-saturating loss on images drawn
with style mixing (--style_mixing, 0.9), lazy R1 on D (the shared
`objective.discriminator_terms`, every --r1_interval D steps) and lazy
path-length regularisation on G (every --pl_interval G steps, in G's own
regularising step). The generator keeps w_avg for truncation psi; samples, grids and
evaluation use psi = 1 (the distribution that was trained), and
`truncation_grid`, `style_mixing_grid` and the `generate` serving
signature take any psi.
"""

from typing import Sequence

import numpy as np
import tensorflow as tf

from s2f_tf import config_families
from s2f_tf import losses
from s2f_tf import pixels
from s2f_tf import summaries
from s2f_tf.models import stylegan2
from s2f_tf.serving import stylegan2 as stylegan2_serving
from s2f_tf.tasks import base
from s2f_tf.tasks import objective
from s2f_tf.tasks import unconditional

MBSTD_GROUP = 4  # Minibatch-stddev group size (StyleGAN2).
PL_BATCH_SHRINK = 2  # Path length on half the batch, as in StyleGAN2.


class StyleGAN2Task(unconditional.UnconditionalTask):
  """StyleGAN2 on a folder of images (the synthetic photos by default)."""

  CONFIG = config_families.StyleGAN2Config
  MODELS = ("stylegan2",)
  EMBEDDINGS = ("w",)

  @classmethod
  def validate(cls, config) -> None:
    # Not UnconditionalTask's checks: those are DCGAN's sizes.
    d, f, t = config.data, config.family, config.train
    try:
      stylegan2.resolutions(d.image_size)
    except ValueError:
      raise ValueError(
          f"--model=stylegan2 needs --image_size a power of two (16, 32, "
          f"64, 128 or 256), got {d.image_size}") from None
    if t.batch_size % min(MBSTD_GROUP, t.batch_size):
      raise ValueError(
          f"--model=stylegan2 needs --batch_size a multiple of {MBSTD_GROUP} "
          f"(minibatch-stddev groups), got {t.batch_size}")
    if not 0.0 <= f.style_mixing <= 1.0:
      raise ValueError(f"--style_mixing={f.style_mixing} must be in [0, 1]")
    if f.mapping_layers < 1 or f.pl_interval < 1 or f.pl_weight < 0:
      raise ValueError(
          f"--mapping_layers={f.mapping_layers} and --pl_interval="
          f"{f.pl_interval} must be >= 1, --pl_weight={f.pl_weight} >= 0")

  def build_generator(self):
    f = self.config.family
    return stylegan2.build_stylegan2_generator(
        f.z_dim, self.config.data.image_size, self.config.model.base_channels,
        f.mapping_layers)

  def build_discriminator(self):
    return stylegan2.build_stylegan2_discriminator(
        self.config.data.image_size, self.config.model.base_channels,
        MBSTD_GROUP)

  def lazy_intervals(self) -> base.LazyIntervals:
    f = self.config.family
    return base.LazyIntervals(d=super().lazy_intervals().d,
                              g=f.pl_interval if f.pl_weight > 0 else 0)

  def _mixed_ws(self, generator, n: int, update_w_avg: bool):
    """Per-layer latents of n fresh samples, style-mixed with p = mixing."""
    z = tf.random.normal([2, n, self.config.family.z_dim])
    w = generator.map(z[0], update_w_avg=update_w_avg)
    return stylegan2.mix_styles(w, generator.map(z[1]), generator.num_ws,
                                self.config.family.style_mixing)

  def d_terms(self, generator, discriminator, batch, context):
    n = batch["image"].shape[0]
    fake = tf.stop_gradient(generator.synthesis(
        self._mixed_ws(generator, n, False), training=True))
    d = lambda image: discriminator(self.augment(image), training=True)
    terms = objective.discriminator_terms(self.config, d, batch["image"],
                                          fake, context.regularize,
                                          observe=self.observe_real)
    return base.LossTerms(terms, watched={"generator_output": fake})

  def g_terms(self, generator, discriminator, batch, context):
    f = self.config.family
    g_loss, _ = losses.GAN_LOSSES[self.config.train.gan_loss]
    n = batch["image"].shape[0]
    fake = generator.synthesis(self._mixed_ws(generator, n, True),
                               training=True)
    terms = {"adv": g_loss(discriminator(self.augment(fake), training=False))}
    measurements = {"output_std": base.output_std(fake)}
    watched = {"generator_output": fake}
    if context.regularize:
      ws = self._mixed_ws(generator, max(n // PL_BATCH_SHRINK, 1), False)
      _, lengths = losses.path_lengths(
          lambda w: generator.synthesis(w, training=True), ws)
      penalty = losses.PathLengthPenalty(generator.pl_mean)(lengths)
      terms["pl"] = f.pl_weight * f.pl_interval * penalty
      measurements["pl_mean"] = tf.identity(generator.pl_mean)
      watched["path_lengths"] = lengths
    return base.LossTerms(terms, measurements, watched)

  def export_module(self, generator):
    return stylegan2_serving.StyleGAN2Export(generator,
                                             self.config.family.z_dim)

  def serving_values(self, signature="serving_default"):
    return stylegan2_serving.input_values(
        signature, self.config.family.z_dim,
        stylegan2.num_ws(self.config.data.image_size))

  def embeddings(self, generator, split, max_points, features):
    """w: the mapping network's output for max_points seeded latents."""
    del split, features  # Latents belong to no split; "w" is the only one.
    rng = np.random.RandomState(self.config.train.seed)
    z = rng.randn(max_points, self.config.family.z_dim).astype(np.float32)
    w, images = [], []
    for start in range(0, max_points, 64):
      batch = tf.constant(z[start:start + 64])
      w.append(generator.map(batch).numpy())
      images.append(pixels.to_uint8(generator(batch).numpy()))
    w = np.concatenate(w)
    distance = np.linalg.norm(w - generator.w_avg.numpy(), axis=1)
    return {"w": base.Embedding(
        w, {"sample": np.arange(max_points),
            "distance_to_w_avg": np.round(distance, 2)},
        np.concatenate(images))}


def truncation_grid(generator, z: np.ndarray,
                    psis: Sequence[float]) -> np.ndarray:
  """uint8 picture: one row per latent in z, one column per psi."""
  rows = [generator.generate(tf.constant(z), psi).numpy() for psi in psis]
  images = np.stack(rows, axis=1).reshape(-1, *rows[0].shape[1:])
  return summaries.image_grid(images, rows=len(z))


def style_mixing_grid(generator, row_z: np.ndarray, col_z: np.ndarray,
                      cutoff: int) -> np.ndarray:
  """uint8 picture of StyleGAN's mixing figure (arXiv:1812.04948, Fig. 3).

  Top row: the column latents' own images; left column: the row latents'.
  Cell (i, j) takes layers [0, cutoff) (coarse: pose, face shape) from
  column j and the rest (colours, fine detail) from row i. psi = 1.
  """
  w_rows = generator.map(tf.constant(row_z))
  w_cols = generator.map(tf.constant(col_z))
  draw = lambda ws: generator.synthesis(tf.constant(ws)).numpy()
  col_ws = generator.broadcast(w_cols).numpy()
  top = draw(col_ws)
  lines = [np.concatenate([-np.ones_like(top[:1]), top])]  # Blank corner.
  coarse = np.arange(generator.num_ws)[None, :, None] < cutoff
  for i in range(len(row_z)):
    row_ws = generator.broadcast(w_rows[i:i + 1]).numpy()
    lines.append(np.concatenate(
        [draw(row_ws), draw(np.where(coarse, col_ws, row_ws))]))
  return summaries.image_grid(np.concatenate(lines), rows=len(row_z) + 1)
