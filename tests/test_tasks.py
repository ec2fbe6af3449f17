"""Tasks on the shared loop: the baselines, options, and a task from a test."""

import dataclasses
import json
import os

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import evaluate
from s2f_tf import export
from s2f_tf import losses
from s2f_tf import pixels
from s2f_tf import tasks
from s2f_tf import train
from s2f_tf.serving import signatures as sig
from s2f_tf.tasks import base


def _dcgan_config(root, gan_loss, **train_overrides):
  base = config_lib.tiny_config(root=root)
  return config_lib.Config(
      data=config_lib.DataConfig(**{**base.data.__dict__, "image_size": 32}),
      model=config_lib.ModelConfig(task="unconditional", model="dcgan",
                                   base_channels=8, z_dim=16),
      train=config_lib.TrainConfig(**{
          **base.train.__dict__, "gan_loss": gan_loss, "ema_beta": 0.0,
          "g_lr": 2e-4, "d_lr": 2e-4, "beta1": 0.5, **train_overrides}))


@pytest.mark.parametrize("gan_loss", ["non_saturating", "lsgan", "hinge",
                                      "wgan", "wgan_gp"])
def test_dcgan_trains_with_every_objective(gan_loss, tiny_data_root, tmp_path):
  config = _dcgan_config(tiny_data_root, gan_loss, steps=4, n_critic=2,
                         image_every=2, checkpoint_every=4)
  state = train.setup(config, str(tmp_path))
  results = train.Loop(state).run()
  assert results["step"] == 4
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
  assert results["last"]["g"]["output_std"] > 0.05  # Samples still vary.
  with Image.open(results["progress_gif"]) as gif:
    assert gif.n_frames >= 2


def test_cam_r2_and_weight_decay_terms_train(tiny_config, tmp_path):
  base = tiny_config(steps=3, r2_gamma=1.0, r1_interval=1, weight_decay=1e-4,
                     lambda_cam=1.0)
  config = config_lib.Config(
      data=base.data,
      model=config_lib.ModelConfig(**{**base.model.__dict__, "cam": True}),
      train=base.train)
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

  def evaluate(self, sample, max_examples):
    out = np.asarray(sample(tf.random.normal([max_examples, 4])))
    return {"model": {"l1": float(np.abs(out - TOY_COLOUR).mean())}}

  def eval_image_batches(self, sample, count, batch_size):
    del batch_size
    out = np.asarray(sample(tf.random.normal([count, 4])))
    yield pixels.to_uint8(np.broadcast_to(TOY_COLOUR, out.shape)), \
        pixels.to_uint8(out)

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
  config = dataclasses.replace(base_config, model=dataclasses.replace(
      base_config.model, task="toy", model=""))  # The task's default.
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
  results = [tasks.make_task(tiny_config(batch_size=b)).evaluate(first_ref, 16)
             for b in (2, 4)]
  assert results[0] == results[1]
