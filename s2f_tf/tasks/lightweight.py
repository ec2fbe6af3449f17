"""Noise -> image with LightweightGAN (FastGAN, Liu et al. 2021).

arXiv:2101.04775. The unconditional task's data, sampler, grid, evaluation
and export, with FastGAN's networks and its self-supervised discriminator:
besides the adversarial loss (hinge in the presets) D pays
--lambda_recon x L1 between what its two decoders rebuild from its real
features (the whole image, and one random quadrant per batch) and the real
pixels.
"""

import tensorflow as tf

from s2f_tf import config_families
from s2f_tf import losses
from s2f_tf.models import lightweight
from s2f_tf.tasks import base
from s2f_tf.tasks import objective
from s2f_tf.tasks import unconditional


class LightweightTask(unconditional.UnconditionalTask):
  """LightweightGAN on a folder of images (the synthetic photos by default).

  The G step inherits the unconditional task's D call in training mode: D's
  batch norm then normalises fakes with their own statistics, as in FastGAN,
  and spectral norm's power iteration runs once more (harmless).
  """

  CONFIG = config_families.LightweightConfig
  MODELS = ("lightweight",)

  @classmethod
  def validate(cls, config) -> None:
    # Not UnconditionalTask's checks: those are DCGAN's sizes.
    try:
      lightweight.check_size(config.data.image_size)
    except ValueError as e:
      raise ValueError(f"--model=lightweight: {e}") from None
    if config.family.lambda_recon < 0:
      raise ValueError(
          f"--lambda_recon={config.family.lambda_recon} must be >= 0")

  def build_generator(self):
    return lightweight.build_lightweight_generator(
        self.config.family.z_dim, self.config.data.image_size,
        self.config.model.base_channels)

  def build_discriminator(self):
    return lightweight.build_lightweight_discriminator(
        self.config.data.image_size, self.config.model.base_channels)

  def d_terms(self, generator, discriminator, batch, context):
    real = batch["image"]
    fake = tf.stop_gradient(generator(self._noise(batch), training=True))
    part = tf.random.uniform([], 0, 4, dtype=tf.int32)
    # D rebuilds the image it saw: the augmented one under --augment.
    seen = self.augment(real)
    real_logits, recs = discriminator.call_with_reconstructions(
        seen, part, training=True)
    d = lambda image: discriminator(self.augment(image), training=True)
    terms = objective.discriminator_terms(self.config, d, real, fake,
                                          context.regularize,
                                          (real_logits, d(fake)),
                                          self.observe_real)
    terms["recon"] = self.config.family.lambda_recon * (
        losses.l1_reconstruction_loss(
            discriminator.reconstruction_targets(seen, part), recs))
    return base.LossTerms(terms, watched={"generator_output": fake})
