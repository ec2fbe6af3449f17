"""Unpaired A <-> B translation: U-GAT-IT (full and light) and CycleGAN.

U-GAT-IT (Kim et al. 2020, arXiv:1907.10830) and its baseline CycleGAN (Zhu
et al. 2017, arXiv:1703.10593) learn a2b and b2a from two unpaired image
folders (`data.domains`). Each player is one model holding its networks
(`models.unpaired`): the generator `a2b` and `b2a`, the discriminator a
global and a local CAM PatchGAN per domain (U-GAT-IT) or one 70x70 PatchGAN
per domain (CycleGAN); one update moves a player's networks together, as in
both papers' code.

Loss terms are named by the domain their images are in (the papers' A/B):
  D: adv_a, adv_b (LSGAN on the patch logits) and, U-GAT-IT, adv_cam_a,
     adv_cam_b (LSGAN on the CAM logits).
  G: adv_*, adv_cam_* as D's with targets 1; cycle_a = |b2a(a2b(a)) - a|;
     identity_a = |b2a(a) - a|; U-GAT-IT cam_a = BCE of b2a's CAM logits,
     its source domain B -> 1 and its target domain A -> 0.
Our LSGAN halves the squares and averages the [global, local] list, so the
paper's unhalved sums are 4x it (U-GAT-IT weight 4); CycleGAN's G term is
an unhalved MSE (2x) and its D term a halved sum (1x). CycleGAN's
discriminators see the generated images through a history pool of 50.

On the synthetic set (`data.anime`) the test images' true renderings in the
other domain are known: `hidden_pair` scores each direction against them,
beside the identity mapping (output = input).
"""

import functools
import os
from typing import Dict, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import config_families
from s2f_tf import losses
from s2f_tf import pixels
from s2f_tf import summaries
from s2f_tf.data import anime
from s2f_tf.data import domains
from s2f_tf.data import layout
from s2f_tf.data import unpaired as unpaired_data
from s2f_tf.metrics import heldout
from s2f_tf.metrics import image as image_metrics
from s2f_tf.models import cyclegan
from s2f_tf.models import ugatit
from s2f_tf.models import unpaired as models
from s2f_tf.serving import unpaired as serving
from s2f_tf.tasks import base

GRID_ROWS = 4  # Test people per direction in the sample grid.
EVAL_BATCH = 16
# (G's adversarial weight, D's) that reproduce each paper's objective.
PAPER_ADV = {"ugatit": (4.0, 4.0), "cyclegan": (2.0, 1.0)}
HIDDEN_PAIR = "hidden_pair"
# The regions whose colour hidden_pair scores: the anime style's flat skin
# and simplified hair are what a translation must get right in colour.
REGION_COLOUR_CLASSES = ("skin", "hair")
SYNTHETIC_ROOT = "data/synth_anime"  # The presets' synthetic set.


def ensure_unpaired_set(root: str, data) -> None:
  """With `data.synthesize`, fills a missing or empty `root` with the
  synthetic photo -> anime set (the --synth_* flags; test people
  --heldout_fraction); an existing root is used as it is."""
  if data.synthesize and not (os.path.isdir(root) and os.listdir(root)):
    logging.info("No unpaired set at %s: synthesizing one", root)
    anime.write_unpaired_set(root, data.synth_identities,
                             data.synth_per_identity, data.synth_size,
                             data.synth_seed, data.heldout_fraction)


class UnpairedTask(base.Task):
  """Two image domains, translated both ways with cycle consistency."""

  CONFIG = config_families.UnpairedConfig
  MODELS = config_families.UNPAIRED_MODELS
  MEASURES = {HIDDEN_PAIR: "L1/PSNR/SSIM of a2b(x) and b2a(y) against the "
                           "hidden true rendering of the same person "
                           "(synthetic set), beside identity mapping, and "
                           "the skin and hair colour error inside the "
                           "truth's parsing map"}

  @classmethod
  def validate(cls, config) -> None:
    super().validate(config)
    t, size = config.train, config.data.image_size
    # The default --gan_loss (unset) means the papers' LSGAN here.
    if t.gan_loss not in ("lsgan", config_lib.TrainConfig().gan_loss):
      raise ValueError(f"--task=unpaired trains with --gan_loss=lsgan "
                       f"(U-GAT-IT and CycleGAN), got {t.gan_loss!r}")
    if t.r1_gamma or t.r2_gamma:
      raise ValueError("--task=unpaired has no R1/R2 penalty; pass "
                       "--r1_gamma=0 --r2_gamma=0")
    if config.model.model == "ugatit":
      ugatit.check_generator(size, config.family.n_res)
      ugatit.discriminator_layers(size)
    else:
      models.cyclegan_patch_layers(size)

  @property
  def _model(self) -> str:
    return self.config.model.model or self.MODELS[0]

  def _weights(self) -> Tuple[float, float, float]:
    """(G adversarial, D adversarial, identity) weights: the flags', or
    the paper's where negative."""
    f = self.config.family
    g_adv, d_adv = PAPER_ADV[self._model]
    if f.lambda_adv >= 0:
      g_adv = d_adv = f.lambda_adv
    identity = f.lambda_identity
    if identity < 0:
      identity = 10.0 if self._model == "ugatit" else 0.5 * f.lambda_cycle
    return g_adv, d_adv, identity

  # Data and models --------------------------------------------------------

  @property
  def root(self) -> str:
    """--data_root; the shared default (the face set's) means the
    synthetic photo -> anime set at SYNTHETIC_ROOT."""
    root = self.config.data.root
    return SYNTHETIC_ROOT if root == config_lib.DataConfig().root else root

  def make_dataset(self) -> tf.data.Dataset:
    ensure_unpaired_set(self.root, self.config.data)
    t = self.config.train
    return unpaired_data.load_train_dataset(
        self.root, self.config.data.image_size, t.batch_size, seed=t.seed)

  @functools.cached_property
  def test_pairs(self) -> Dict[str, domains.TestPairs]:
    """{"a2b": testA (+ hidden truths), "b2a": testB (+ truths)}."""
    ensure_unpaired_set(self.root, self.config.data)
    return domains.load_test_pairs(self.root, self.config.data.image_size)

  def build_generator(self):
    f = self.config.family
    return models.build_generator(
        self._model, self.config.data.image_size,
        self.config.model.base_channels, f.n_res, f.light,
        f.residual_output)

  def build_discriminator(self):
    """Both domains' discriminators; CycleGAN's history pools beside them
    (built here, under the strategy's scope; not checkpointed: a resumed
    run refills them)."""
    size = self.config.data.image_size
    if self._model == "cyclegan":
      self._pools = {d: cyclegan.ImagePool(
          [size, size, 3], self.config.family.pool_size,
          seed=self.config.train.seed + i, name=f"pool_{d}")
                     for i, d in enumerate(models.DOMAINS)}
    return models.build_discriminator(self._model, size,
                                      self.config.family.d_channels)

  def _zeros(self):
    size = self.config.data.image_size
    return {d: tf.zeros([1, size, size, 3]) for d in models.DOMAINS}

  def dummy_forwards(self, generator, discriminator):
    return (lambda: generator(self._zeros()),
            lambda: discriminator(self._zeros()))

  # Objectives ------------------------------------------------------------

  def _pooled(self, domain, fake):
    """D's view of the fakes: CycleGAN's history pool, else the batch."""
    if self._model == "cyclegan":
      return self._pools[domain](fake)
    return fake

  def d_terms(self, generator, discriminator, batch, context):
    _, weight, _ = self._weights()
    fake = generator(batch, training=True)
    fakes = {"a": fake["b2a"]["image"], "b": fake["a2b"]["image"]}
    terms = {}
    for d in models.DOMAINS:
      real_out = discriminator.judge(d, self.augment(batch[d]),
                                     training=True)
      self.observe_real([o["logits"] for o in real_out], "lsgan")
      fake_out = discriminator.judge(d, self.augment(
          self._pooled(d, tf.stop_gradient(fakes[d]))), training=True)
      for key, name in (("logits", "adv"), ("cam_logits", "adv_cam")):
        if key in real_out[0]:
          terms[f"{name}_{d}"] = weight * losses.lsgan_discriminator_loss(
              [o[key] for o in real_out], [o[key] for o in fake_out])
    return base.LossTerms(terms, watched={"generator_output": fakes["b"]})

  def g_terms(self, generator, discriminator, batch, context):
    adv, _, identity = self._weights()
    f = self.config.family
    # Direction producing each domain's images, and its input domain.
    into = {"a": ("b2a", "b"), "b": ("a2b", "a")}
    terms, outputs = {}, {}
    for d, (direction, source) in into.items():
      fake = generator.translate(direction, batch[source], training=True)
      same = generator.translate(direction, batch[d], training=True)
      outputs[d] = fake["image"]
      # D in inference mode: the G step must not move spectral norm's u.
      judged = discriminator.judge(d, self.augment(fake["image"]),
                                   training=False)
      terms[f"adv_{d}"] = adv * losses.lsgan_generator_loss(
          [o["logits"] for o in judged])
      if "cam_logits" in judged[0]:
        terms[f"adv_cam_{d}"] = adv * losses.lsgan_generator_loss(
            [o["cam_logits"] for o in judged])
      if identity > 0:
        terms[f"identity_{d}"] = identity * losses.identity_loss(
            batch[d], same["image"])
      if "cam_logits" in fake and f.lambda_cam_g > 0:
        terms[f"cam_{d}"] = f.lambda_cam_g * losses.cam_discriminator_loss(
            fake["cam_logits"], same["cam_logits"])
    for d, (direction, source) in into.items():
      back = generator.translate(into[source][0], outputs[d], training=True)
      terms[f"cycle_{source}"] = f.lambda_cycle * losses.cycle_loss(
          batch[source], back["image"])
    return base.LossTerms(
        terms, {"output_std": base.output_std(outputs["b"])},
        {"generator_output": outputs["b"], "generator_b2a_output":
         outputs["a"]})

  # Samples ----------------------------------------------------------------

  def make_sampler(self, generator):
    """(a, b) -> {"image": a2b(a), "heatmap": its CAM map (U-GAT-IT),
    "a2b2a": its cycle, and "b2a", "b2a_heatmap", "b2a2b" for b}. Either
    batch may be empty (reflection padding refuses an empty batch, so the
    networks then do not run); traced once."""
    size = self.config.data.image_size
    shapes = {"image": [size, size, 3], "cycle": [size, size, 3]}
    if self._model == "ugatit":
      side = size // 2**ugatit.DOWNSAMPLE
      shapes["heatmap"] = [side, side, 1]

    def run(x, direction, back):
      fwd = generator.translate(direction, x, training=False)
      out = {k: v for k, v in fwd.items() if k in shapes}
      out["cycle"] = generator.translate(back, fwd["image"],
                                         training=False)["image"]
      return out

    def sample(a, b):
      out = {}
      for x, direction, back in ((a, "a2b", "b2a"), (b, "b2a", "a2b")):
        result = tf.cond(
            tf.shape(x)[0] > 0, lambda: run(x, direction, back),
            lambda: {k: tf.zeros([0] + s) for k, s in shapes.items()})
        names = {"image": "image", "heatmap": "heatmap",
                 "cycle": "a2b2a"} if direction == "a2b" else {
                     "image": "b2a", "heatmap": "b2a_heatmap",
                     "cycle": "b2a2b"}
        out.update({names[k]: v for k, v in result.items()})
      return out
    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    return tf.function(sample, input_signature=[spec, spec],
                       autograph=False)

  def translate(self, sample, direction: str, images: np.ndarray
                ) -> Dict[str, np.ndarray]:
    """uint8 images of `direction`'s source -> {"image", "cycle", and
    "heatmap" when the model has one}, numpy, batched by EVAL_BATCH."""
    size = self.config.data.image_size
    empty = tf.zeros([0, size, size, 3])
    keys = ({"image": "image", "heatmap": "heatmap", "cycle": "a2b2a"}
            if direction == "a2b" else
            {"image": "b2a", "heatmap": "b2a_heatmap", "cycle": "b2a2b"})
    parts = []
    for start in range(0, len(images), EVAL_BATCH):
      x = tf.constant(pixels.to_unit(images[start:start + EVAL_BATCH]))
      out = sample(x, empty) if direction == "a2b" else sample(empty, x)
      parts.append({k: np.asarray(out[v]) for k, v in keys.items()
                    if v in out})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

  def _grid_rows(self, direction: str) -> np.ndarray:
    """Up to GRID_ROWS test images of `direction`, each of another person
    where the set names people."""
    inputs = self.test_pairs[direction].inputs
    rows = np.arange(len(inputs))
    if np.all(inputs.identities != domains.UNKNOWN):
      _, first = np.unique(inputs.identities, return_index=True)
      rows = np.sort(first)
    return inputs.images[rows[:GRID_ROWS]]

  def sample_grid(self, sample) -> np.ndarray:
    """Rows of a2b, then of b2a: input | heatmap (U-GAT-IT) | output |
    cycle reconstruction."""
    blocks = []
    for direction in models.DIRECTIONS:
      images = self._grid_rows(direction)
      out = self.translate(sample, direction, images)
      size = images.shape[1]
      tiles = [images]
      if "heatmap" in out:
        tiles.append(summaries.map_tiles(out["heatmap"], size, size))
      tiles += [summaries.to_uint8(out["image"]),
                summaries.to_uint8(out["cycle"])]
      blocks.append(np.concatenate(tiles, axis=2).reshape(
          -1, size * len(tiles), 3))
    return np.concatenate(blocks, axis=0)

  # Evaluation -------------------------------------------------------------

  def evaluate(self, sample, max_examples, names):
    """hidden_pair: per direction, the model's and the identity mapping's
    mean L1 ([-1, 1]), PSNR and SSIM ([0, 1]) against the hidden truths of
    the first `max_examples` test images, and where the truths have parsing
    maps the colour error of each REGION_COLOUR_CLASSES region (the RGB
    distance of its mean colour, on [-1, 1]); {} without hidden truths."""
    del names  # hidden_pair, the only one.
    results = {}
    for direction, pairs in self.test_pairs.items():
      if pairs.truths is None:
        logging.info("%s has no hidden truths for %s: no hidden_pair score",
                      self.root, direction)
        continue
      inputs = pairs.inputs.images[:max_examples]
      truth = pixels.to_unit(pairs.truths[:max_examples])
      output = self.translate(sample, direction, inputs)["image"]
      rows = {"model": output, "identity": pixels.to_unit(inputs)}
      results[direction] = {
          name: image_metrics.mean_over_batches(
              [image_metrics.image_metrics(image, truth)])
          for name, image in rows.items()}
      results[direction]["count"] = len(inputs)
      if pairs.truth_labels is not None:
        labels = pairs.truth_labels[:max_examples]
        results[direction]["region_colour_error"] = {
            name: heldout.class_colour_error(
                image, truth, labels, len(layout.CLASS_NAMES),
                REGION_COLOUR_CLASSES)
            for name, image in rows.items()}
    return {HIDDEN_PAIR: results} if results else {}

  def eval_streams(self, sample, count, batch_size
                   ) -> Dict[str, base.Stream]:
    """a2b: real test B images against a2b(test A); b2a likewise. Up to
    `count` images each (the test split's size at most)."""
    return {d: self._stream(sample, d, count, batch_size)
            for d in models.DIRECTIONS}

  def _stream(self, sample, direction, count, batch_size) -> base.Stream:
    other = "b2a" if direction == "a2b" else "a2b"
    inputs = self.test_pairs[direction].inputs.images
    real = self.test_pairs[other].inputs.images
    n = min(count, len(inputs))
    rows = np.arange(n)
    for start in range(0, n, batch_size):
      batch = rows[start:start + batch_size]
      output = self.translate(sample, direction, inputs[batch])["image"]
      yield real[batch % len(real)], pixels.to_uint8(output)

  # Serving ------------------------------------------------------------------

  def export_module(self, generator):
    return serving.export_module(generator, self.config.data.image_size)

  def image_to_image(self, generator, signature):
    """a2b or b2a (their uint8/float signatures alike) in float32, and the
    test split of its input domain (testA for a2b) as held-out inputs."""
    direction = "a2b" if signature == "serving_default" else signature
    direction = direction.removesuffix("_float")
    if direction not in models.DIRECTIONS:
      raise ValueError(f"--tflite_signature={signature!r}: an unpaired "
                       f"model converts a2b or b2a")
    function = lambda image: tf.cast(generator.translate(
        direction, image, training=False)["image"], tf.float32)
    return function, self.test_pairs[direction].inputs.images

  def serving_inputs(self, signature="serving_default"):
    return serving.input_files(signature)
