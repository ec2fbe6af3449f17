"""What a run learns: the few-shot sketch-to-face task or the DCGAN baseline.

A task owns everything that differs between models: the data, the networks,
the loss terms of each player and the sample grid. The compiled steps
(`steps.py`) and the loop (`train.py`) are shared, so the baselines get the
same numerics checks, retrace guard, checkpoints and summaries for free.

Loss-term functions return (terms, measurements, watched): weighted float32
loss terms that are summed, scalar measurements for TensorBoard, and tensors
whose finiteness the numerics check reports by name.
"""

import functools
from typing import Dict, List, Tuple

import numpy as np
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf.models import dcgan
from s2f_tf import losses
from s2f_tf.models import few_shot
from s2f_tf import summaries
from s2f_tf.data import episodes
from s2f_tf.data import folder
from s2f_tf.data import reader

GRID_EPISODES = 4  # Rows of the few-shot sample grid.
GRID_NOISE = 16  # Samples in the DCGAN fixed-noise grid.


def _logits(outputs) -> List[tf.Tensor]:
  return [logits for logits, _ in outputs]


def _features(outputs) -> List[List[tf.Tensor]]:
  return [feats for _, feats in outputs]


def discriminator_terms(config: config_lib.Config, logits_fn, real, fake,
                        regularize: bool, logits=None) -> Dict[str, tf.Tensor]:
  """The adversarial D loss and its regularisers, shared by every task.

  `regularize` marks the lazy-regularisation phase (every r1_interval D
  steps); the penalties are then weighted by the interval so the expected
  penalty per step is unchanged (Karras et al. 2020, arXiv:1912.04958).
  `logits` are (real, fake) logits a caller already has.
  """
  t = config.train
  _, d_loss = losses.GAN_LOSSES[t.gan_loss]
  real_logits, fake_logits = logits or (logits_fn(real), logits_fn(fake))
  terms = {"d_adv": d_loss(real_logits, fake_logits)}
  if t.gan_loss == "wgan_gp":
    terms["d_gp"] = t.gp_lambda * losses.wasserstein_gradient_penalty(
        logits_fn, real, fake)
  if regularize and t.r1_gamma > 0:  # r1/r2 penalties are E||grad||^2 / 2.
    terms["d_r1"] = (t.r1_gamma * t.r1_interval *
                     losses.r1_penalty(logits_fn, real))
  if regularize and t.r2_gamma > 0:
    terms["d_r2"] = (t.r2_gamma * t.r1_interval *
                     losses.r2_penalty(logits_fn, fake))
  return terms


class FewShotTask:
  """Sketch + K reference photos of a person -> that person's face."""

  def __init__(self, config: config_lib.Config):
    self.config = config

  @functools.cached_property
  def _splits(self):
    # Loaded on first use: export and sampling build a task for its few_shot.
    return reader.load_splits(self.config.data)

  @property
  def train_set(self):
    return self._splits[0]

  @property
  def heldout_set(self):
    return self._splits[1]

  def make_dataset(self) -> tf.data.Dataset:
    t = self.config.train
    return episodes.make_episode_dataset(
        self.train_set, t.batch_size, self.config.data.k_refs, shuffle=True,
        flip=self.config.data.flip, repeat=True, seed=t.seed)

  def build_models(self):
    return few_shot.build_models(self.config)

  def build_generator(self):
    d = self.config.data
    return few_shot.build_generator(self.config.model, d.image_size, d.k_refs)

  def dummy_forwards(self, generator, discriminator):
    """Zero-input forward passes, for recording data-flow order."""
    size, k = self.config.data.image_size, self.config.data.k_refs
    sketch = tf.zeros([1, size, size, 1])
    refs = tf.zeros([1, k, size, size, 3])
    return (lambda: generator({"sketch": sketch, "refs": refs}),
            lambda: discriminator((tf.zeros([1, size, size, 3]), sketch)))

  def d_terms(self, generator, discriminator, batch, regularize: bool):
    sketch = batch["sketch"]
    fake = tf.stop_gradient(generator(
        {"sketch": sketch, "refs": batch["refs"]}, training=True))
    d = lambda image: _logits(discriminator((image, sketch), training=True))
    if not self.config.model.cam:
      terms = discriminator_terms(self.config, d, batch["photo"], fake,
                                  regularize)
    else:
      # U-GAT-IT's auxiliary classifier on D's CAM logits: real vs fake.
      real_out, real_cam = discriminator.call_with_cam(
          (batch["photo"], sketch), training=True)
      fake_out, fake_cam = discriminator.call_with_cam((fake, sketch),
                                                       training=True)
      terms = discriminator_terms(self.config, d, batch["photo"], fake,
                                  regularize,
                                  (_logits(real_out), _logits(fake_out)))
      terms["d_cam"] = self.config.train.lambda_cam * (
          losses.cam_discriminator_loss(real_cam, fake_cam))
    # A NaN fake shows up first in the D step; name it, not D's layers.
    return terms, {}, {"generator_output": fake}

  def g_terms(self, generator, discriminator, batch):
    t = self.config.train
    sketch, photo = batch["sketch"], batch["photo"]
    g_loss, _ = losses.GAN_LOSSES[t.gan_loss]
    style = generator.encode_style(batch["refs"], training=True)
    terms = {}
    # D in inference mode: the G step must not move spectral norm's u.
    if not self.config.model.cam:
      fake = generator.generate(sketch, style, training=True)
      fake_out = discriminator((fake, sketch), training=False)
    else:
      # U-GAT-IT: G's own CAM classifier (sketch 1, grayscale photo 0) and
      # D's CAM classifier fooled toward "real".
      fake, g_cam = generator.generate_with_cam(sketch, style, training=True)
      photo_cam = generator.content_cam_logits(
          tf.image.rgb_to_grayscale(photo), training=True)
      fake_out, fake_cam = discriminator.call_with_cam((fake, sketch),
                                                       training=False)
      terms["g_cam"] = t.lambda_cam * (
          losses.cam_discriminator_loss(g_cam, photo_cam) +
          losses.cam_generator_loss(fake_cam))
    real_out = discriminator((photo, sketch), training=False)
    real_feats = tf.nest.map_structure(tf.stop_gradient, _features(real_out))
    terms.update({
        "g_adv": g_loss(_logits(fake_out)),
        "g_fm": t.lambda_fm * losses.feature_matching_loss(
            real_feats, _features(fake_out)),
        "g_l1": t.lambda_l1 * losses.l1_reconstruction_loss(photo, fake),
    })
    stats = {"output_std": tf.math.reduce_std(tf.cast(fake, tf.float32)),
             "style_std": tf.math.reduce_std(tf.cast(style, tf.float32))}
    return terms, stats, {"generator_output": fake, "style_code": style}

  def make_sampler(self, generator):
    """(sketch, refs) -> images; batch and K dynamic, traced once."""
    size = self.config.data.image_size
    return tf.function(
        lambda sketch, refs: generator({"sketch": sketch, "refs": refs},
                                       training=False),
        input_signature=[tf.TensorSpec([None, size, size, 1]),
                         tf.TensorSpec([None, None, size, size, 3])])

  def grid_inputs(self) -> Tuple[tf.Tensor, ...]:
    """The same held-out episodes at every sample step, so grids compare."""
    ds = episodes.make_episode_dataset(
        self.heldout_set, GRID_EPISODES, self.config.data.k_refs,
        shuffle=True, flip=False, repeat=True, seed=7)
    batch = next(iter(ds))
    self._grid_target = batch["photo"].numpy()
    return batch["sketch"], batch["refs"]

  def grid(self, inputs, output: np.ndarray) -> np.ndarray:
    sketch, refs = inputs
    return summaries.episode_grid(sketch.numpy(), refs.numpy(), output,
                                  self._grid_target)


class UnconditionalTask:
  """Noise -> image: the DCGAN / WGAN baselines on any folder of images."""

  def __init__(self, config: config_lib.Config):
    self.config = config

  def _folder(self) -> str:
    d = self.config.data
    if d.image_folder:
      return d.image_folder
    reader.ensure_face_set(d)
    return d.root  # folder.make_image_dataset reads its CelebA-HQ-img/.

  def make_dataset(self) -> tf.data.Dataset:
    t = self.config.train
    return folder.make_image_dataset(self._folder(),
                                     self.config.data.image_size,
                                     t.batch_size, seed=t.seed)

  def _critic_batch_norm(self) -> bool:
    # WGAN and WGAN-GP critics drop batch norm (Gulrajani et al. 2017).
    return self.config.train.gan_loss not in ("wgan", "wgan_gp")

  def build_models(self):
    m, size = self.config.model, self.config.data.image_size
    return (self.build_generator(),
            dcgan.build_dcgan_discriminator(
                size, m.base_channels, batch_norm=self._critic_batch_norm()))

  def build_generator(self):
    m = self.config.model
    return dcgan.build_dcgan_generator(m.z_dim, self.config.data.image_size,
                                       m.base_channels)

  def dummy_forwards(self, generator, discriminator):
    size, z_dim = self.config.data.image_size, self.config.model.z_dim
    return (lambda: generator(tf.zeros([1, z_dim])),
            lambda: discriminator(tf.zeros([1, size, size, 3])))

  def _noise(self, batch) -> tf.Tensor:
    n = tf.shape(batch["image"])[0]
    return tf.random.normal([n, self.config.model.z_dim])

  def d_terms(self, generator, discriminator, batch, regularize: bool):
    fake = tf.stop_gradient(generator(self._noise(batch), training=True))
    d = lambda image: discriminator(image, training=True)
    terms = discriminator_terms(self.config, d, batch["image"], fake,
                                regularize)
    return terms, {}, {"generator_output": fake}

  def g_terms(self, generator, discriminator, batch):
    g_loss, _ = losses.GAN_LOSSES[self.config.train.gan_loss]
    fake = generator(self._noise(batch), training=True)
    terms = {"g_adv": g_loss(discriminator(fake, training=True))}
    stats = {"output_std": tf.math.reduce_std(tf.cast(fake, tf.float32))}
    return terms, stats, {"generator_output": fake}

  def make_sampler(self, generator):
    return tf.function(
        lambda z: generator(z, training=False),
        input_signature=[tf.TensorSpec([None, self.config.model.z_dim])])

  def grid_inputs(self) -> Tuple[tf.Tensor, ...]:
    """Fixed noise, so successive grids show the same samples evolving."""
    rng = np.random.RandomState(self.config.train.seed)
    return (tf.constant(rng.randn(GRID_NOISE, self.config.model.z_dim),
                        tf.float32),)

  def grid(self, inputs, output: np.ndarray) -> np.ndarray:
    del inputs
    return summaries.image_grid(output)


def make_task(config: config_lib.Config):
  if config.model.model == "dcgan":
    return UnconditionalTask(config)
  return FewShotTask(config)
