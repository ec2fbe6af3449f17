"""Noise -> image: the DCGAN / WGAN baselines on any folder of images.

DCGAN (Radford et al. 2016, arXiv:1511.06434) trained with any objective of
`--gan_loss`; WGAN and WGAN-GP critics drop batch norm (Gulrajani et al.
2017, arXiv:1704.00028).
"""

import functools
from typing import Dict

import numpy as np
import tensorflow as tf

from s2f_tf import config_families
from s2f_tf import losses
from s2f_tf import pixels
from s2f_tf import summaries
from s2f_tf.data import folder
from s2f_tf.data import reader
from s2f_tf.models import dcgan
from s2f_tf.serving import unconditional as unconditional_serving
from s2f_tf.tasks import base
from s2f_tf.tasks import objective

GRID_NOISE = 16  # Samples in the fixed-noise grid.


class UnconditionalTask(base.Task):
  """Noise -> image on a folder of images (the synthetic photos by default)."""

  CONFIG = config_families.UnconditionalConfig
  MODELS = ("dcgan",)

  @classmethod
  def validate(cls, config) -> None:
    super().validate(config)
    if config.data.image_size not in dcgan.SIZES:
      raise ValueError(f"--model=dcgan needs --image_size in {dcgan.SIZES}, "
                       f"got {config.data.image_size}")

  def _folder(self) -> str:
    d = self.config.data
    if self.config.family.image_folder:
      return self.config.family.image_folder
    reader.ensure_face_set(d)
    return d.root  # folder.make_image_dataset reads its CelebA-HQ-img/.

  def make_dataset(self) -> tf.data.Dataset:
    t = self.config.train
    return folder.make_image_dataset(self._folder(),
                                     self.config.data.image_size,
                                     t.batch_size, seed=t.seed)

  def build_generator(self):
    return dcgan.build_dcgan_generator(self.config.family.z_dim,
                                       self.config.data.image_size,
                                       self.config.model.base_channels)

  def build_discriminator(self):
    # WGAN and WGAN-GP critics drop batch norm (Gulrajani et al. 2017).
    batch_norm = self.config.train.gan_loss not in ("wgan", "wgan_gp")
    return dcgan.build_dcgan_discriminator(
        self.config.data.image_size, self.config.model.base_channels,
        batch_norm=batch_norm)

  def dummy_forwards(self, generator, discriminator):
    size, z_dim = self.config.data.image_size, self.config.family.z_dim
    return (lambda: generator(tf.zeros([1, z_dim])),
            lambda: discriminator(tf.zeros([1, size, size, 3])))

  def _noise(self, batch) -> tf.Tensor:
    n = tf.shape(batch["image"])[0]
    return tf.random.normal([n, self.config.family.z_dim])

  def d_terms(self, generator, discriminator, batch, context):
    fake = tf.stop_gradient(generator(self._noise(batch), training=True))
    d = lambda image: discriminator(self.augment(image), training=True)
    terms = objective.discriminator_terms(self.config, d, batch["image"],
                                          fake, context.regularize,
                                          observe=self.observe_real)
    return base.LossTerms(terms, watched={"generator_output": fake})

  def g_terms(self, generator, discriminator, batch, context):
    del context  # No lazy generator regulariser.
    g_loss, _ = losses.GAN_LOSSES[self.config.train.gan_loss]
    fake = generator(self._noise(batch), training=True)
    terms = {"adv": g_loss(discriminator(self.augment(fake), training=True))}
    return base.LossTerms(terms, {"output_std": base.output_std(fake)},
                          {"generator_output": fake})

  def make_sampler(self, generator):
    return tf.function(
        lambda z: generator(z, training=False),
        input_signature=[tf.TensorSpec([None, self.config.family.z_dim])],
        autograph=False)

  @functools.cached_property
  def _grid_noise(self) -> tf.Tensor:
    """Fixed noise, so successive grids show the same samples evolving."""
    rng = np.random.RandomState(self.config.train.seed)
    return tf.constant(rng.randn(GRID_NOISE, self.config.family.z_dim),
                       tf.float32)

  def sample_grid(self, sample) -> np.ndarray:
    output = sample(self._grid_noise)
    return summaries.image_grid(np.asarray(base.sampled_image(output)),
                                maps=base.auxiliary_maps(output).values())

  def eval_streams(self, sample, count, batch_size
                   ) -> Dict[str, base.Stream]:
    return {base.DEFAULT_STREAM: self._eval_batches(sample, count,
                                                    batch_size)}

  def _eval_batches(self, sample, count, batch_size) -> base.Stream:
    """Training images against samples of fresh, seeded noise."""
    rng = np.random.RandomState(self.config.train.seed + 1)
    done = 0
    for batch in self.make_dataset():
      if done >= count:
        return
      n = min(batch_size, count - done, int(batch["image"].shape[0]))
      z = rng.randn(n, self.config.family.z_dim).astype(np.float32)
      yield (pixels.to_uint8(batch["image"][:n].numpy()),
             pixels.to_uint8(np.asarray(base.sampled_image(
                 sample(tf.constant(z))))))
      done += n

  def export_module(self, generator):
    return unconditional_serving.UnconditionalExport(generator,
                                                     self.config.family.z_dim)

  def serving_values(self, signature="serving_default"):
    return unconditional_serving.input_values(signature,
                                              self.config.family.z_dim)
