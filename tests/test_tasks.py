"""Tasks on the shared loop: the baselines, options, and a task from a test."""

import dataclasses
import json
import os

from absl import flags
import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import config_families
from s2f_tf import evaluate
from s2f_tf import export
from s2f_tf import flags as s2f_flags
from s2f_tf import images
from s2f_tf import losses
from s2f_tf import numerics
from s2f_tf import pixels
from s2f_tf import sample as sample_lib
from s2f_tf import summaries
from s2f_tf import tasks
from s2f_tf import train
from s2f_tf.data import decode
from s2f_tf.metrics import swd
from s2f_tf.serving import signatures as sig
from s2f_tf.tasks import base


def _dcgan_config(root, gan_loss, **train_overrides):
  base = config_lib.tiny_config(root=root)
  return config_lib.with_task(config_lib.Config(
      data=config_lib.DataConfig(**{**base.data.__dict__, "image_size": 32}),
      model=config_lib.ModelConfig(base_channels=8),
      train=config_lib.TrainConfig(**{
          **base.train.__dict__, "gan_loss": gan_loss, "ema_beta": 0.0,
          "g_lr": 2e-4, "d_lr": 2e-4, "beta1": 0.5, **train_overrides})),
                              "unconditional", "dcgan", z_dim=16)


@pytest.mark.parametrize("gan_loss", ["non_saturating", "lsgan", "hinge",
                                      "wgan", "wgan_gp"])
def test_dcgan_trains_with_every_objective(gan_loss, tiny_data_root, tmp_path):
  config = _dcgan_config(tiny_data_root, gan_loss, steps=2, n_critic=2,
                         image_every=2, checkpoint_every=2)
  state = train.setup(config, str(tmp_path))
  results = train.Loop(state).run()
  assert results["step"] == 2
  assert all(np.isfinite(v) for v in results["last"]["g"].values())
  assert os.path.exists(results["progress_gif"])
  if gan_loss == "wgan":
    clip = config.train.wgan_clip
    for v in state.discriminator.trainable_variables:
      assert np.abs(v.numpy()).max() <= clip + 1e-7, v.path
  moving_stats = [v.path for v in state.discriminator.variables
                  if "moving_mean" in v.path]
  # WGAN critics drop batch norm (Gulrajani et al. 2017); DCGAN's has it.
  assert bool(moving_stats) == (gan_loss not in ("wgan", "wgan_gp"))


def test_wgan_gp_dcgan_200_steps_does_not_collapse(tiny_data_root, tmp_path):
  config = _dcgan_config(tiny_data_root, "wgan_gp", steps=200, n_critic=1,
                         batch_size=8, g_lr=1e-3, d_lr=1e-3, beta1=0.0,
                         beta2=0.9, image_every=50, checkpoint_every=200,
                         log_every=50)
  results = train.run(config, str(tmp_path))
  assert results["step"] == 200
  assert np.isfinite(results["last"]["d"]["d/total"])
  assert results["last"]["g"]["g/output_std"] > 0.05  # Samples still vary.
  with Image.open(results["progress_gif"]) as gif:
    assert gif.n_frames >= 2


def test_cam_r2_and_weight_decay_terms_train(tiny_config, tmp_path):
  """The terms' names and finite values: with no EMA copy and one
  discriminator scale (neither touches these terms), the run builds and
  traces half as much."""
  base = tiny_config(steps=2, r2_gamma=1.0, r1_interval=1, weight_decay=1e-4,
                     ema_beta=0.0)
  config = config_lib.with_family(base, cam=True, lambda_cam=1.0, num_d=1)
  state = train.setup(config, str(tmp_path))
  loop = train.Loop(state)
  results = loop.run()
  d, g = results["last"]["d"], results["last"]["g"]
  assert {"d/cam", "d/r2", "d/l2"} <= set(d)
  assert {"g/cam", "g/l2"} <= set(g)
  assert all(np.isfinite(v) for v in list(d.values()) + list(g.values()))


# A new model family, defined in this file alone: noise -> one constant image.
# It trains through the library entry of s2f-train with grids, checkpoints,
# evaluation and export, and no library module knows it exists.

TOY_COLOUR = (0.5, -0.25, 0.0)


class ToyTask(base.Task):
  """The generator must learn to output TOY_COLOUR whatever the noise."""

  MODELS = ("toy",)
  MEASURES = {"l1": "mean |output - TOY_COLOUR|"}

  def make_dataset(self):
    size, batch = self.config.data.image_size, self.config.train.batch_size
    image = tf.broadcast_to(tf.constant(TOY_COLOUR), [batch, size, size, 3])
    return tf.data.Dataset.from_tensors({"image": image}).repeat()

  def build_generator(self):
    size = self.config.data.image_size
    return keras.Sequential([
        keras.Input([4]), keras.layers.Dense(size * size * 3, name="dense"),
        keras.layers.Reshape([size, size, 3])], name="generator")

  def build_discriminator(self):
    return keras.Sequential([
        keras.Input([self.config.data.image_size] * 2 + [3]),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, name="logit")],
        name="discriminator")

  def dummy_forwards(self, generator, discriminator):
    size = self.config.data.image_size
    return (lambda: generator(tf.zeros([1, 4])),
            lambda: discriminator(tf.zeros([1, size, size, 3])))

  def _noise(self, batch):
    return tf.random.normal([tf.shape(batch["image"])[0], 4])

  def d_terms(self, generator, discriminator, batch, context):
    fake = generator(self._noise(batch))
    return base.LossTerms({"adv": losses.hinge_discriminator_loss(
        discriminator(batch["image"]), discriminator(fake))})

  def g_terms(self, generator, discriminator, batch, context):
    fake = generator(self._noise(batch))
    l1 = tf.reduce_mean(tf.abs(fake - batch["image"]))
    return base.LossTerms({"l1": l1}, {"output_std": base.output_std(fake)},
                          {"generator_output": fake})

  def make_sampler(self, generator):
    return tf.function(lambda z: generator(z),
                       input_signature=[tf.TensorSpec([None, 4])])

  def sample_grid(self, sample):
    return pixels.to_uint8(np.asarray(sample(tf.zeros([1, 4])))[0])

  def collapse_signals(self):
    return {}  # A constant output is this task's goal.

  def evaluate(self, sample, max_examples, names):
    assert list(names) == ["l1"]
    out = np.asarray(sample(tf.random.normal([max_examples, 4])))
    return {"model": {"l1": float(np.abs(out - TOY_COLOUR).mean())}}

  def eval_streams(self, sample, count, batch_size):
    del batch_size
    def stream():
      out = np.asarray(sample(tf.random.normal([count, 4])))
      yield pixels.to_uint8(np.broadcast_to(TOY_COLOUR, out.shape)), \
          pixels.to_uint8(out)
    return {base.DEFAULT_STREAM: stream()}

  def export_module(self, generator):
    return ToyExport(generator)


class ToyExport(sig.ExportModule):
  SIGNATURES = ("serving_default",)

  def __init__(self, generator):
    super().__init__(generator, name="toy")
    self._call = generator.__call__

  @tf.function(input_signature=[sig.spec(2, tf.float32, "z")])
  def serving_default(self, z):
    return {"image": self._call(z)}

  def examples(self, rng):
    z = rng.standard_normal((2, 4)).astype(np.float32)
    return {"serving_default": sig.Example({"z": z}, np.asarray(self._call(z)),
                                           1e-5)}


def test_a_task_defined_in_a_test_trains_evaluates_and_exports(
    tiny_config, tmp_path):
  if "toy" not in tasks.names():
    tasks.register("toy", ToyTask)
  base_config = tiny_config(steps=60, g_lr=3e-2, d_lr=1e-3, eval_at_end=True,
                            eval_episodes=16, image_every=30,
                            checkpoint_every=30, ema_beta=0.0)
  config = config_lib.with_task(base_config, "toy")  # The default model.
  workdir = str(tmp_path / "toy")
  results = train.run(config, workdir)
  assert results["step"] == 60
  assert config_lib.load_config(workdir).model.model == "toy"
  assert results["eval"]["model"]["l1"] < 0.05  # It learnt the colour.
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
      "step_0000030.png", "step_0000060.png"]
  with open(os.path.join(workdir, "eval.json")) as f:
    assert json.load(f)["model"]["l1"] == results["eval"]["model"]["l1"]
  again = evaluate.evaluate_workdir(workdir, max_examples=16)  # Restored.
  assert again["step"] == 60 and again["model"]["l1"] < 0.05
  task, generator, step = export.restore_for_serving(workdir)
  assert isinstance(task, ToyTask) and step == 60
  path = export.export(task, generator, str(tmp_path / "serving"))
  image = tf.saved_model.load(path).signatures["serving_default"](
      z=tf.zeros([1, 4]))["image"].numpy()
  np.testing.assert_allclose(image.mean(axis=(0, 1, 2)), TOY_COLOUR,
                             atol=0.05)


def test_a_task_without_models_is_refused_at_registration():
  no_models = type("NoModels", (ToyTask,), {"MODELS": ()})
  with pytest.raises(ValueError, match="'no_models' lists no MODELS"):
    tasks.register("no_models", no_models)


def test_unknown_task_and_model_are_one_line_errors(tiny_config):
  config = tiny_config()
  for model, message in ((dataclasses.replace(config.model, task="gan3d"),
                          r"--task='gan3d' is unknown; use one of "
                          r"sketch2face, unconditional"),
                         (dataclasses.replace(config.model, model="dcgan"),
                          r"--task=sketch2face has no --model='dcgan'; "
                          r"--model=dcgan belongs to --task=unconditional"),
                         (dataclasses.replace(config.model, model="vae"),
                          r"--task=sketch2face has no --model='vae'; use "
                          r"one of s2f")):
    with pytest.raises(ValueError, match=message):
      tasks.validate(dataclasses.replace(config, model=model))


def test_sample_grid_rows_show_different_held_out_people(tiny_config):
  task = tasks.make_task(tiny_config())
  size, k = task.config.data.image_size, task.config.data.k_refs
  grid = task.sample_grid(lambda sketch, refs: refs[:, 0])
  rows = grid.reshape(-1, size, grid.shape[1], 3)
  targets = rows[:, :, -size:]  # sketch | refs | output | target.
  photos = task.heldout_set.photos
  people = [task.heldout_set.identities[
      int(np.argmin(np.abs(photos.astype(int) - t).sum(axis=(1, 2, 3))))]
            for t in targets]
  assert len(people) == min(4, len(set(task.heldout_set.identities)))
  assert len(set(people)) == len(people)
  np.testing.assert_array_equal(  # The output column is what `sample` gave.
      rows[:, :, size * (1 + k):size * (2 + k)], rows[:, :, size:2 * size])
  again = task.sample_grid(lambda sketch, refs: refs[:, 0])
  np.testing.assert_array_equal(grid, again)  # Same inputs every call.


def test_few_shot_evaluation_does_not_depend_on_the_training_batch(
    tiny_config):
  first_ref = lambda sketch, refs: refs[:, 0]
  results = [tasks.make_task(tiny_config(batch_size=b)).evaluate(
      first_ref, 16, ("psnr", "ssim")) for b in (2, 4)]
  assert results[0] == results[1]


# A two-domain family, defined here alone: generators a2b and b2a inside one
# G container, discriminators a and b inside one D container, cycle terms,
# and a first phase that freezes b2a (as pix2pixHD freezes its global
# generator while the local enhancer warms up).

DOMAIN_COLOURS = {"a": (0.5, -0.5, 0.0), "b": (-0.25, 0.25, 0.75)}
WARMUP = 3  # Iterations with b2a frozen.


@dataclasses.dataclass(frozen=True)
class CycleToyConfig(config_families.FamilyConfig):
  """The toy family's own section: a flag only --task=cycle_toy accepts."""

  toy_cycle: float = config_families.field(
      1.0, "cycle_toy: weight of the two cycle L1 terms.")


class _TwoGenerators(keras.Model):
  """Per-pixel maps a -> b and b -> a; variables "generator/a2b/...", ..."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.a2b = keras.Sequential([keras.layers.Dense(3, name="dense")],
                                name="a2b")
    self.b2a = keras.Sequential([keras.layers.Dense(3, name="dense")],
                                name="b2a")

  def call(self, images):
    return {"b": self.a2b(images["a"]), "a": self.b2a(images["b"])}


class _TwoDiscriminators(keras.Model):
  """One real/fake logit per image of each domain."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    for d in "ab":
      setattr(self, d, keras.Sequential(
          [keras.layers.GlobalAveragePooling2D(),
           keras.layers.Dense(1, name="logit")], name=d))

  def call(self, images):
    return {d: getattr(self, d)(images[d]) for d in images}


def _nan_gradient_from(step, first_bad):
  """Identity whose gradient is NaN once `step` (a tensor) >= first_bad."""
  @tf.custom_gradient
  def poisoned(x):
    def grad(dy):
      return dy * tf.where(step >= first_bad, np.nan, 1.0)
    return tf.identity(x), grad
  return poisoned


class CycleToyTask(base.Task):
  """Constant-colour domains a and b, translated both ways with cycle L1.

  Records every weight of G after each iteration (`after_step`) and the
  first-built G's initial weights, so a test can watch the frozen phase.
  """

  CONFIG = CycleToyConfig
  MODELS = ("cycle_toy",)
  MEASURES = {"l1": "mean |a2b(a) - b's colour|"}
  NAN_FROM = None  # With a step, a2b's gradient turns NaN from that step.

  def __init__(self, config):
    super().__init__(config)
    self.initial, self.history = None, []

  def make_dataset(self):
    size, batch = self.config.data.image_size, self.config.train.batch_size
    return tf.data.Dataset.from_tensors({
        d: tf.broadcast_to(tf.constant(c), [batch, size, size, 3])
        for d, c in DOMAIN_COLOURS.items()}).repeat()

  def _dummy(self):
    size = self.config.data.image_size
    return {d: tf.zeros([1, size, size, 3]) for d in "ab"}

  def build_generator(self):
    generator = _TwoGenerators(name="generator")
    generator(self._dummy())
    if self.initial is None:  # The trained G (the EMA copy comes second).
      self.initial = {v.path: v.numpy().copy() for v in generator.variables}
    return generator

  def build_discriminator(self):
    discriminator = _TwoDiscriminators(name="discriminator")
    discriminator(self._dummy())
    return discriminator

  def dummy_forwards(self, generator, discriminator):
    return (lambda: generator(self._dummy()),
            lambda: discriminator(self._dummy()))

  def phases(self):
    return (base.Phase("warmup", 0, WARMUP, frozen=("generator/b2a/",)),
            base.Phase("train", WARMUP, self.config.train.steps))

  def d_terms(self, generator, discriminator, batch, context):
    fake = tf.nest.map_structure(tf.stop_gradient, generator(batch))
    real_logits, fake_logits = discriminator(batch), discriminator(fake)
    return base.LossTerms({
        f"adv_{d}": losses.hinge_discriminator_loss(real_logits[d],
                                                    fake_logits[d])
        for d in "ab"})

  def g_terms(self, generator, discriminator, batch, context):
    fake_b = generator.a2b(batch["a"])
    if self.NAN_FROM is not None:
      fake_b = _nan_gradient_from(context.step, self.NAN_FROM)(fake_b)
    fake = {"a": generator.b2a(batch["b"]), "b": fake_b}
    logits = discriminator(fake)
    terms = {f"adv_{d}": losses.hinge_generator_loss(logits[d]) for d in "ab"}
    weight = self.config.family.toy_cycle
    terms["cycle_a"] = weight * losses.l1_reconstruction_loss(
        batch["a"], generator.b2a(fake_b))
    terms["cycle_b"] = weight * losses.l1_reconstruction_loss(
        batch["b"], generator.a2b(fake["a"]))
    terms["l1"] = losses.l1_reconstruction_loss(batch["b"], fake_b)
    return base.LossTerms(terms, {"output_std": base.output_std(fake_b)},
                          {"generator_output": fake_b})

  def after_step(self, step, generator, discriminator):
    self.history.append((step, {v.path: v.numpy().copy()
                                for v in generator.variables}))

  def make_sampler(self, generator):
    """(a, b) -> {"image": a2b(a), "b2a": b2a(b), "attention"}: a nest,
    with a one-channel map beside the image (like U-GAT-IT's CAM)."""
    def sample(a, b):
      image = generator.a2b(a, training=False)
      return {"image": image, "b2a": generator.b2a(b, training=False),
              "attention": _attention(image, a)}
    spec = sig.spec(4, tf.float32, "a")
    return tf.function(sample, input_signature=[spec, spec])

  def _domain(self, d, n):
    size = self.config.data.image_size
    return tf.broadcast_to(tf.constant(DOMAIN_COLOURS[d]), [n, size, size, 3])

  def sample_grid(self, sample):
    out = sample(self._domain("a", 1), self._domain("b", 1))
    return summaries.image_grid(np.asarray(base.sampled_image(out)), rows=1,
                                maps=[base.auxiliary_maps(out)["attention"]])

  def collapse_signals(self):
    return {}  # A constant output is this task's goal.

  def evaluate(self, sample, max_examples, names):
    del names  # "l1", the only one.
    out = base.sampled_image(sample(self._domain("a", max_examples),
                                    self._domain("b", max_examples)))
    out = np.asarray(out)
    return {"model": {"l1": float(np.abs(out - DOMAIN_COLOURS["b"]).mean())}}

  def eval_streams(self, sample, count, batch_size):
    """Two named streams: each direction's output against its domain."""
    def stream(target, key):
      for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        out = sample(self._domain("a", n), self._domain("b", n))
        yield (pixels.to_uint8(self._domain(target, n).numpy()),
               pixels.to_uint8(np.asarray(out[key])))
    return {"a2b": stream("b", "image"), "b2a": stream("a", "b2a")}

  def export_module(self, generator):
    return CycleToyExport(generator)

  def serving_inputs(self, signature="serving_default"):
    if signature != "serving_default":
      return ()
    return (sig.InputFile("a", "a", images.Photo(), "a photo of domain a"),)


def _attention(image, source):
  """|a2b(a) - a| averaged over channels: [B, H, W, 1]."""
  return tf.reduce_mean(tf.abs(image - source), axis=-1, keepdims=True)


class CycleToyExport(sig.ExportModule):
  """serving_default: a uint8 [B, S, S, 3] -> image uint8 and attention
  uint8 [B, S, S, 1] (scaled by 255 / 2: |image - a| <= 2)."""

  SIGNATURES = ("serving_default",)

  def __init__(self, generator):
    super().__init__(generator, name="cycle_toy")
    self._a2b = generator.a2b.__call__

  def _outputs(self, a):
    a = pixels.to_unit(a)
    image = self._a2b(a)
    attention = tf.clip_by_value(_attention(image, a) * 127.5, 0, 255)
    return {"image": pixels.to_uint8(image),
            "attention": tf.cast(tf.round(attention), tf.uint8)}

  @tf.function(input_signature=[sig.spec(4, tf.uint8, "a")])
  def serving_default(self, a):
    return self._outputs(a)

  def examples(self, rng):
    a = rng.integers(0, 256, (2, 4, 4, 3), np.uint8)
    return {"serving_default": sig.Example(
        {"a": a}, {k: v.numpy() for k, v in self._outputs(a).items()}, 1)}


def _cycle_toy_config(tiny_config, task="cycle_toy", **overrides):
  if task not in tasks.names():
    tasks.register(task, {"cycle_toy": CycleToyTask,
                          "cycle_toy_nan": CycleToyNaNTask}[task])
  config = tiny_config(**{
      "steps": 6, "weight_decay": 1e-2, "g_lr": 1e-2, "d_lr": 1e-2,
      "log_every": 1, "image_every": 6, "checkpoint_every": WARMUP,
      "histogram_every": 6, "ema_beta": 0.5, **overrides})
  return config_lib.with_task(config, task)


def _checkpoint_values(workdir, step):
  path = os.path.join(checkpointing.checkpoint_dir(workdir), f"ckpt-{step}")
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name, _ in tf.train.list_variables(path)}


def test_two_generators_train_with_b2a_frozen_bit_for_bit_in_warmup(
    tiny_config, tmp_path):
  workdir = str(tmp_path / "cycle")
  config = _cycle_toy_config(tiny_config)
  captured = {}
  make_task = tasks.make_task

  def keep(config):  # The run's task, to read what it recorded.
    captured["task"] = make_task(config)
    return captured["task"]

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(tasks, "make_task", keep)
    results = train.run(config, workdir)
  assert results["step"] == 6
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["cycle_toy"] == {"toy_cycle": 1.0}
  assert config_lib.load_config(workdir).family == CycleToyConfig()
  assert {"d/adv_a", "d/adv_b", "d/l2", "d/total"} == set(results["last"]["d"])
  assert {"g/cycle_a", "g/cycle_b", "g/l1", "g/l2", "g/total",
          "g/output_std"} <= set(results["last"]["g"])
  task = captured["task"]
  assert [step for step, _ in task.history] == list(range(6))
  b2a = [p for p in task.initial if p.startswith("generator/b2a/")]
  a2b = [p for p in task.initial if p.startswith("generator/a2b/")]
  assert b2a and a2b
  for step, weights in task.history:
    for path in b2a:  # Frozen through the warm-up, weight decay and all.
      same = np.array_equal(weights[path], task.initial[path])
      assert same == (step < WARMUP), (step, path)
    for path in a2b:
      assert not np.array_equal(weights[path], task.initial[path]), path

  # Checkpoints keep each network under its path; Adam never saw b2a in
  # the warm-up (its moments are still zero), and did after it.
  for step, b2a_moved in ((WARMUP, False), (6, True)):
    values = _checkpoint_values(workdir, step)
    moments = [n for n in values
               if "generator_b2a_dense_kernel" in n and "opt" in n]
    assert moments, sorted(values)
    assert any(np.any(values[n]) for n in moments) == b2a_moved, moments
  names = " ".join(_checkpoint_values(workdir, 6))
  for network in ("generator/a2b/dense", "generator/b2a/dense",
                  "discriminator/a/logit", "discriminator/b/logit"):
    # The checkpoint escapes "/" inside a key as ".S".
    assert network.replace("/", ".S") in names, network
  events = event_accumulator.EventAccumulator(
      os.path.join(workdir, "train"),
      size_guidance={event_accumulator.TENSORS: 0})
  events.Reload()
  tags = set(events.Tags()["tensors"])
  assert "weights/generator/generator/b2a/dense/kernel" in tags
  assert "grads/discriminator/discriminator/a/logit/kernel" in tags

  # Two evaluation streams, each scored under its own name, against SWD
  # computed here on the same images.
  again = evaluate.evaluate_workdir(workdir, max_examples=16)  # Restored.
  assert again["step"] == 6 and np.isfinite(again["model"]["l1"])
  task, generator, _ = export.restore_for_serving(workdir)
  sample = task.make_sampler(generator)
  for name in ("a2b", "b2a"):
    real, fake = (swd.Descriptors(config.data.image_size, seed)
                  for seed in (0, 1))
    for r, g in task.eval_streams(sample, 16, config.train.batch_size)[name]:
      real.update(r)
      fake.update(g)
    assert again[name]["swd"]["x1e3_avg"] == swd.swd(real, fake).average
  assert again["a2b"] != again["b2a"]
  with open(os.path.join(workdir, "eval.json")) as f:
    assert set(json.load(f)) >= {"a2b", "b2a", "model", "step"}

  # The grid shows the nested sampler's attention map beside the image.
  grid = np.asarray(Image.open(os.path.join(workdir, "samples",
                                            "step_0000006.png")))
  size = config.data.image_size
  assert grid.shape[:2] == (size, 2 * size)  # Image | attention.
  attention = grid[:, size:]
  assert np.all(attention == attention[..., :1])  # A gray map.

  # Served and sampled from a file through s2f-sample's library call.
  path = export.export(task, generator, str(tmp_path / "serving"))
  photo = np.full((size, size, 3), 200, np.uint8)
  photo_path = str(tmp_path / "a.png")
  decode.write_png(photo_path, photo)
  written = sample_lib.sample({"a": photo_path}, str(tmp_path / "out.png"),
                              export_dir=path,
                              out_aux_dir=str(tmp_path / "aux"))
  assert [os.path.basename(p) for p in written] == ["out.png",
                                                    "attention.png"]
  served = tf.saved_model.load(path).signatures["serving_default"](
      a=tf.constant(photo[None]))
  np.testing.assert_array_equal(
      np.asarray(Image.open(written[0]).convert("RGB")),
      served["image"].numpy()[0])


class CycleToyNaNTask(CycleToyTask):
  NAN_FROM = WARMUP + 1  # In the second phase.


def test_a_nan_in_one_network_names_it_and_no_phase_retraces(
    tiny_config, tmp_path):
  config = _cycle_toy_config(tiny_config, "cycle_toy_nan",
                             checkpoint_every=100, histogram_every=0)
  loop = train.Loop(train.setup(config, str(tmp_path)))
  with pytest.raises(numerics.NumericsError) as info:
    loop.run()
  text = str(info.value)
  assert f"generator step at step {WARMUP + 1}" in text
  assert "first bad layer (backprop order): generator/a2b/dense" in text
  assert "generator/b2a" not in text
  assert set(loop.guard.functions) == {
      "warmup/d_step", "warmup/g_step", "train/d_step", "train/g_step"}
  for name, function in loop.guard.functions.items():
    assert function.experimental_get_tracing_count() == 1, name


def test_a_registered_task_brings_its_own_section_and_flags(tiny_config,
                                                            tmp_path):
  _cycle_toy_config(tiny_config)  # Registers cycle_toy.
  parse = lambda argv: _parsed(["--data_root=" + str(tmp_path), *argv])
  fv = parse(["--task=cycle_toy", "--toy_cycle=2.5"])
  config = s2f_flags.config_from_flags(fv)
  assert config.family == CycleToyConfig(toy_cycle=2.5)
  assert config.model.model == "cycle_toy"
  lines = s2f_flags.explicit_flag_lines(fv)
  assert "--toy_cycle=2.5" in lines
  assert not any(line.startswith("--n_res=") for line in lines)
  with pytest.raises(ValueError, match="^--toy_cycle is a flag of "
                     "--task=cycle_toy.*; --task=sketch2face does not read "
                     "it: drop it$"):
    s2f_flags.config_from_flags(parse(["--toy_cycle=2"]))
  groups = fv.flags_by_module_dict()
  owners = [m for m, found in groups.items()
            if "toy_cycle" in {f.name for f in found}]
  assert len(owners) == 1 and owners[0].startswith(
      "s2f_tf flags of --task=cycle_toy"), owners


def _parsed(argv):
  fv = flags.FlagValues()
  s2f_flags.define_config_flags(fv)
  fv(["prog"] + argv)
  return fv


def test_phases_are_checked_in_one_line(tiny_config):
  paths = ["generator/a2b/dense/kernel", "discriminator/a/logit/kernel"]
  base.check_phases((base.Phase("p", 0, 2), base.Phase("q", 2, 6)), 6,
                    paths)
  for phases, message in (
      ((), "declares no phases"),
      ((base.Phase("p", 0, 2), base.Phase("p", 2, 6)), "'p' is used twice"),
      ((base.Phase("p", 0, 2), base.Phase("q", 3, 6)),
       r"'q' covers \[3, 6\) but must start at 2"),
      ((base.Phase("p", 0, 4), base.Phase("q", 2, 6)),
       r"'q' covers \[2, 6\) but must start at 4"),
      ((base.Phase("p", 0, 5),), "the phases end at 5, not at --steps=6"),
      ((base.Phase("p", 0, 6, frozen=("generator/b2a/",)),),
       "freezes 'generator/b2a/', which no variable's path starts with")):
    with pytest.raises(ValueError, match=message) as info:
      base.check_phases(phases, 6, paths)
    assert "\n" not in str(info.value)


class _TwiceNamedTask(ToyTask):
  def g_terms(self, generator, discriminator, batch, context):
    out = super().g_terms(generator, discriminator, batch, context)
    return base.LossTerms(out.terms, {"l1": out.terms["l1"]})


def test_a_term_and_a_measurement_of_one_name_is_an_error(tiny_config,
                                                          tmp_path):
  if "twice_named" not in tasks.names():
    tasks.register("twice_named", _TwiceNamedTask)
  config = config_lib.with_task(tiny_config(ema_beta=0.0), "twice_named",
                                "toy")
  state = train.setup(config, str(tmp_path))
  with pytest.raises(ValueError, match="names g/l1 both as a loss term and "
                     "as a measurement; rename one"):
    state.steps.function("g_step")(next(iter(state.dataset)))
