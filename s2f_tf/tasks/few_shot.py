"""Few-shot sketch-to-face: a sketch + K photos of a person -> that face.

The content encoder reads the sketch, the style embedder the K references,
and the AdaLIN decoder draws the person (U-GAT-IT, Kim et al. 2020,
arXiv:1907.10830); a multi-scale spectral-norm PatchGAN conditioned on the
sketch judges it, with hinge, feature-matching and L1 terms.
"""

import functools
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

from s2f_tf import config_families
from s2f_tf import losses
from s2f_tf import pixels
from s2f_tf import summaries
from s2f_tf.data import episodes
from s2f_tf.data import reader
from s2f_tf.metrics import few_shot as few_shot_metrics
from s2f_tf.metrics import heldout
from s2f_tf.models import few_shot as few_shot_models
from s2f_tf.models import patchgan
from s2f_tf.serving import few_shot as few_shot_serving
from s2f_tf.tasks import base
from s2f_tf.tasks import objective
from s2f_tf.data import points as points_lib

GRID_EPISODES = 4  # Rows of the sample grid, each a different person.
GRID_SEED = 7  # The grid's episodes are the same at every sample step.


class FewShotTask(base.Task):
  """Sketch + K reference photos of a person -> that person's face."""

  CONFIG = config_families.Sketch2FaceConfig
  MODELS = ("s2f",)
  EMBEDDINGS = ("style", "content")
  MEASURES = few_shot_metrics.MEASURES

  @classmethod
  def validate(cls, config) -> None:
    super().validate(config)
    d, f = config.data, config.family
    factor = 2**f.n_downsample
    if d.image_size % factor:
      raise ValueError(
          f"--image_size={d.image_size} is not divisible by 2**n_downsample="
          f"{factor}; use a multiple of {factor} or lower --n_downsample")
    few_shot_models.check_config(f, d.image_size)

  @functools.cached_property
  def _splits(self) -> Tuple[reader.FaceSet, reader.FaceSet]:
    # Loaded on first use: export and sampling build a task for its networks.
    return reader.load_splits(self.config.data)

  @property
  def train_set(self) -> reader.FaceSet:
    return self._splits[0]

  @property
  def heldout_set(self) -> reader.FaceSet:
    return self._splits[1]

  def make_dataset(self) -> tf.data.Dataset:
    t = self.config.train
    return episodes.make_episode_dataset(
        self.train_set, t.batch_size, self.config.data.k_refs, shuffle=True,
        flip=self.config.data.flip, repeat=True, seed=t.seed)

  def build_generator(self):
    d = self.config.data
    return few_shot_models.build_generator(
        self.config.family, d.image_size, self.config.model.base_channels,
        d.k_refs)

  def build_discriminator(self):
    return few_shot_models.build_discriminator(self.config.family,
                                               self.config.data.image_size)

  def dummy_forwards(self, generator, discriminator):
    size, k = self.config.data.image_size, self.config.data.k_refs
    sketch = tf.zeros([1, size, size, 1])
    refs = tf.zeros([1, k, size, size, 3])
    return (lambda: generator({"sketch": sketch, "refs": refs}),
            lambda: discriminator((tf.zeros([1, size, size, 3]), sketch)))

  def generator_pass(self, generator, batch):
    """{"fake", "style"} and with --cam G's CAM logits "g_cam": what both
    players' terms read of one forward pass."""
    style = generator.encode_style(batch["refs"], training=True)
    if not self.config.family.cam:
      return {"fake": generator.generate(batch["sketch"], style,
                                         training=True), "style": style}
    fake, g_cam = generator.generate_with_cam(batch["sketch"], style,
                                              training=True)
    return {"fake": fake, "style": style, "g_cam": g_cam}

  def d_terms(self, generator, discriminator, batch, context):
    sketch, regularize = batch["sketch"], context.regularize
    generated = context.generated
    if generated is None:
      generated = self.generator_pass(generator, batch)
    fake = tf.stop_gradient(generated["fake"])
    d = lambda image: patchgan.logits(
        discriminator(self.augment((image, sketch)), training=True))
    if not self.config.family.cam:
      terms = objective.discriminator_terms(self.config, d, batch["photo"],
                                            fake, regularize,
                                            observe=self.observe_real)
    else:
      # U-GAT-IT's auxiliary classifier on D's CAM logits: real vs fake.
      real_out, real_cam = discriminator.call_with_cam(
          self.augment((batch["photo"], sketch)), training=True)
      fake_out, fake_cam = discriminator.call_with_cam(
          self.augment((fake, sketch)), training=True)
      terms = objective.discriminator_terms(
          self.config, d, batch["photo"], fake, regularize,
          (patchgan.logits(real_out), patchgan.logits(fake_out)),
          self.observe_real)
      terms["cam"] = self.config.family.lambda_cam * (
          losses.cam_discriminator_loss(real_cam, fake_cam))
    # A NaN fake shows up first in the D step; name it, not D's layers.
    return base.LossTerms(terms, watched={"generator_output": fake})

  def g_terms(self, generator, discriminator, batch, context):
    # The generator has no lazy regulariser here.
    f = self.config.family
    sketch, photo = batch["sketch"], batch["photo"]
    g_loss, _ = losses.GAN_LOSSES[self.config.train.gan_loss]
    generated = context.generated
    if generated is None:
      generated = self.generator_pass(generator, batch)
    fake, style = generated["fake"], generated["style"]
    terms = {}
    # Fake and real move alike: feature matching compares them.
    fake_in, real_in = self.augment_alike((fake, sketch), (photo, sketch))
    # D in inference mode: the G step must not move spectral norm's u.
    if not self.config.family.cam:
      fake_out = discriminator(fake_in, training=False)
    else:
      # U-GAT-IT: G's own CAM classifier (sketch 1, grayscale photo 0) and
      # D's CAM classifier fooled toward "real".
      photo_cam = generator.content_cam_logits(
          tf.image.rgb_to_grayscale(photo), training=True)
      fake_out, fake_cam = discriminator.call_with_cam(fake_in,
                                                       training=False)
      terms["cam"] = f.lambda_cam * (
          losses.cam_discriminator_loss(generated["g_cam"], photo_cam) +
          losses.cam_generator_loss(fake_cam))
    real_out = discriminator(real_in, training=False)
    real_feats = tf.nest.map_structure(tf.stop_gradient,
                                       patchgan.features(real_out))
    terms.update({
        "adv": g_loss(patchgan.logits(fake_out)),
        "fm": f.lambda_fm * losses.feature_matching_loss(
            real_feats, patchgan.features(fake_out)),
        "l1": f.lambda_l1 * losses.l1_reconstruction_loss(photo, fake),
    })
    stats = {"output_std": base.output_std(fake),
             "style_std": base.output_std(style)}
    return base.LossTerms(terms, stats, {"generator_output": fake,
                                         "style_code": style})

  def make_sampler(self, generator):
    """(sketch, refs) -> images; batch and K dynamic, traced once."""
    size = self.config.data.image_size
    return tf.function(
        lambda sketch, refs: generator({"sketch": sketch, "refs": refs},
                                       training=False),
        input_signature=[tf.TensorSpec([None, size, size, 1]),
                         tf.TensorSpec([None, None, size, size, 3])],
        autograph=False)

  @functools.cached_property
  def _grid_episodes(self) -> Dict[str, np.ndarray]:
    """The first GRID_EPISODES held-out episodes of different people."""
    ds = episodes.make_episode_dataset(
        self.heldout_set, 4 * GRID_EPISODES, self.config.data.k_refs,
        shuffle=True, flip=False, repeat=True, seed=GRID_SEED)
    rows, seen = [], set()
    for batch in ds.take(4):  # Bounded: a set with few people fills less.
      b = {k: v.numpy() for k, v in batch.items()}
      for i, identity in enumerate(b["identity"]):
        if identity not in seen and len(rows) < GRID_EPISODES:
          seen.add(identity)
          rows.append({k: v[i] for k, v in b.items()})
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}

  def sample_grid(self, sample) -> np.ndarray:
    e = self._grid_episodes
    output = sample(tf.constant(e["sketch"]), tf.constant(e["refs"]))
    return summaries.episode_grid(
        e["sketch"], e["refs"], np.asarray(base.sampled_image(output)),
        e["photo"], maps=base.auxiliary_maps(output).values())

  def collapse_signals(self) -> Dict[str, str]:
    signals = super().collapse_signals()
    if self.config.family.style_source == "embedder":
      signals["g/style_std"] = "style code"  # Other sources are not learnt.
    return signals

  def evaluate(self, sample, max_examples, names):
    generate = lambda sketch, refs: np.asarray(base.sampled_image(
        sample(tf.constant(sketch), tf.constant(refs))))
    return heldout.select(few_shot_metrics.heldout_metrics(
        generate, self.heldout_set,
        heldout.mean_photo(self.train_set),
        few_shot_metrics.EVAL_BATCH, self.config.data.k_refs, max_examples),
                                   names)

  def eval_streams(self, sample, count, batch_size
                   ) -> Dict[str, base.Stream]:
    return {base.DEFAULT_STREAM: self._eval_batches(sample, count,
                                                    batch_size)}

  def _eval_batches(self, sample, count, batch_size) -> base.Stream:
    """Held-out targets and the model's faces of their sketches."""
    ds = episodes.make_episode_dataset(
        self.heldout_set, batch_size, self.config.data.k_refs, shuffle=True,
        flip=False, repeat=True, seed=heldout.EVAL_SEED)
    done = 0
    for batch in ds:
      if done >= count:
        return
      n = min(batch_size, count - done)
      output = base.sampled_image(sample(batch["sketch"][:n],
                                         batch["refs"][:n]))
      yield (pixels.to_uint8(batch["photo"][:n].numpy()),
             pixels.to_uint8(np.asarray(output)))
      done += n

  def export_module(self, generator):
    if self.config.family.style_source == "random":
      raise ValueError("style_source='random' is a debugging mode with random "
                       "outputs; export a generator trained with 'embedder'")
    return few_shot_serving.FewShotExport(generator, self.config.data.k_refs)

  def embeddings(self, generator, split: str, max_points: int,
                 features: Sequence[str]) -> Dict[str, base.Embedding]:
    """style: each photo alone as a K=1 reference through the embedder;
    content: the content encoder's features of its sketch, flattened."""
    if "style" in features and self.config.family.style_source != "embedder":
      raise ValueError(
          "--features=style needs the style embedder, but this run was "
          f"trained with --style_source={self.config.family.style_source!r}, "
          "a debugging mode that ignores reference photos and has no "
          "embedder; export --features=content, or train with "
          "--style_source=embedder")
    points = points_lib.select_points(*self._splits, split, max_points)
    encoders = {
        "style": (lambda photos: generator.encode_style_per_image(
            photos[:, None])[:, 0], points.photos),
        "content": (generator.encode_content, points.sketches),
    }
    return {name: base.Embedding(
        points_lib.encode_batched(*encoders[name]), points.metadata(),
        points.photos) for name in features}

  # Serving from files -------------------------------------------------------

  def serving_inputs(self, signature="serving_default"):
    return few_shot_serving.input_files(signature,
                                        self.config.data.sketch_method)
