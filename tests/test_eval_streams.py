"""Named evaluation streams, the metrics registry and nested sampler output.

A task defined here alone has two streams ("a2b", "b2a"), its own measure
and a sampler that returns the image with an attention map: the one
evaluation path scores each stream apart and writes them under their names,
and the grid shows the map.
"""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from s2f_tf import config as config_lib
from s2f_tf import evaluate
from s2f_tf import pixels
from s2f_tf import summaries
from s2f_tf import tasks
from s2f_tf.metrics import few_shot as few_shot_metrics
from s2f_tf.metrics import heldout as heldout_lib
from s2f_tf.metrics import label2face as label2face_metrics
from s2f_tf.metrics import swd
from s2f_tf.tasks import base

TASK = "two_stream_eval_toy"
STREAMS = {"a2b": 1, "b2a": 2}  # Stream name -> its seed offset.
BATCH = 4


class TwoStreamTask(base.Task):
  """Noise -> image and a half-size attention map; two directions to score.

  Evaluation only: the training half of the contract is never called.
  """

  MODELS = ("two_stream",)
  MEASURES = {"mean_level": "the mean pixel of 8 samples"}

  def build_generator(self):
    size = self.config.data.image_size
    return keras.Sequential([
        keras.Input([4]), keras.layers.Dense(size * size * 3, name="dense",
                                             activation="tanh"),
        keras.layers.Reshape([size, size, 3])], name="generator")

  def make_sampler(self, generator):
    half = self.config.data.image_size // 2

    def sample(z):
      ramp = tf.linspace(-1.0, 1.0, half)  # A [-1, 1] map, left to right.
      attention = tf.broadcast_to(ramp[None, None, :, None],
                                  [tf.shape(z)[0], half, half, 1])
      return {"image": generator(z), "attention": attention * z[:, :1, None,
                                                                None]}
    return tf.function(sample, input_signature=[tf.TensorSpec([None, 4])])

  def sample_grid(self, sample):
    output = sample(tf.ones([2, 4]))
    return summaries.image_grid(np.asarray(base.sampled_image(output)),
                                maps=base.auxiliary_maps(output).values())

  def evaluate(self, sample, max_examples, names):
    assert list(names) == ["mean_level"]
    image = base.sampled_image(sample(tf.ones([8, 4])))
    return {"mean_level": float(np.mean(image))}

  def eval_streams(self, sample, count, batch_size):
    return {name: self._stream(sample, count, offset)
            for name, offset in STREAMS.items()}

  def _stream(self, sample, count, offset):
    rng = np.random.RandomState(self.config.train.seed + offset)
    size = self.config.data.image_size
    for _ in range(count // BATCH):
      real = rng.randint(0, 256, (BATCH, size, size, 3)).astype(np.uint8)
      z = rng.randn(BATCH, 4).astype(np.float32)
      yield real, pixels.to_uint8(np.asarray(base.sampled_image(sample(z))))

  def make_dataset(self):
    raise NotImplementedError

  def build_discriminator(self):
    raise NotImplementedError

  def dummy_forwards(self, generator, discriminator):
    raise NotImplementedError

  def d_terms(self, generator, discriminator, batch, context):
    raise NotImplementedError

  def g_terms(self, generator, discriminator, batch, context):
    raise NotImplementedError

  def export_module(self, generator):
    raise NotImplementedError


@pytest.fixture
def toy_config(tiny_config):
  if TASK not in tasks.names():
    tasks.register(TASK, TwoStreamTask)
  config = tiny_config(metrics="mean_level,swd", eval_episodes=16)
  return config_lib.with_task(config, TASK, "two_stream")


def _tensorboard_tags(logdir):
  accumulator = event_accumulator.EventAccumulator(logdir)
  accumulator.Reload()
  return set(accumulator.Tags()["tensors"])


def test_each_stream_gets_its_own_swd_in_eval_json_and_tensorboard(
    toy_config, tmp_path):
  tasks.validate(toy_config)
  task = tasks.make_task(toy_config)
  sample = task.make_sampler(task.build_generator())
  results = evaluate.evaluate_run(task, sample, 7, str(tmp_path))
  assert set(results) == {"mean_level", "a2b", "b2a", "step"}
  with open(tmp_path / "eval.json") as f:
    assert json.load(f) == results
  for name in STREAMS:  # The same images through s2f_tf.metrics.swd.
    real, fake = (swd.Descriptors(16, seed) for seed in (0, 1))
    for r, g in task.eval_streams(sample, 16, 4)[name]:
      real.update(r)
      fake.update(g)
    expected = swd.swd(real, fake, seed=0)
    assert results[name] == {"swd": {
        "x1e3_16": expected.per_level[16], "x1e3_avg": expected.average,
        "images": 16}}
  assert results["a2b"] != results["b2a"]
  tags = _tensorboard_tags(str(tmp_path / "eval"))
  assert {"eval/mean_level", "eval/a2b/swd/x1e3_avg", "eval/a2b/swd/x1e3_16",
          "eval/b2a/swd/x1e3_avg", "eval/b2a/swd/images"} <= tags
  assert not any(tag.startswith("eval/swd") for tag in tags)


def test_the_grid_shows_the_attention_map_beside_each_image(toy_config):
  task = tasks.make_task(toy_config)
  generator = task.build_generator()
  grid = task.sample_grid(task.make_sampler(generator))
  assert grid.shape == (16, 2 * 32, 3)  # 2 tiles of image | map.
  image = pixels.to_uint8(np.asarray(generator(tf.ones([2, 4]))))
  np.testing.assert_array_equal(grid[:, :16], image[0])
  np.testing.assert_array_equal(grid[:, 32:48], image[1])
  # The [-1, 1] ramp at 8 px, stretched to 0..255 and repeated to 16 px.
  ramp = np.round(np.linspace(0.0, 1.0, 8) * 255).repeat(2)
  for tile in (grid[:, 16:32], grid[:, 48:64]):
    assert np.abs(tile.astype(int) - ramp[None, :, None]).max() <= 1
  assert (tile == tile[:, :, :1]).all()  # Gray.


def test_map_tiles_read_unit_and_signed_maps_alike():
  ramp = np.linspace(0.0, 1.0, 4, dtype=np.float32)[None, None, :, None]
  unit = summaries.map_tiles(np.tile(ramp, [1, 4, 1, 1]), 4, 4)
  signed = summaries.map_tiles(np.tile(ramp * 2 - 1, [1, 4, 1, 1]), 4, 4)
  np.testing.assert_array_equal(unit, signed)
  assert unit[0, 0, :, 0].tolist() == [0, 85, 170, 255]
  assert summaries.map_tiles(np.ones([1, 4, 4, 1]), 4, 4).max() == 0
  with pytest.raises(ValueError, match="3x3 does not tile an image of 4x4"):
    summaries.map_tiles(np.ones([1, 3, 3, 1]), 4, 4)


def test_sampled_image_reads_a_tensor_or_a_nest():
  image = tf.zeros([1, 2, 2, 3])
  assert base.sampled_image(image) is image
  assert base.sampled_image({"image": image, "attention": 1}) is image
  assert base.auxiliary_maps(image) == {}
  with pytest.raises(ValueError, match=r"needs an 'image'; it has \['x'\]"):
    base.sampled_image({"x": image})


def test_an_unknown_metric_names_the_tasks_choices(toy_config, tiny_config):
  bad = dataclasses.replace(toy_config, train=dataclasses.replace(
      toy_config.train, metrics="swd,psnr"))
  with pytest.raises(ValueError, match=(
      rf"--metrics='swd,psnr' has unknown \['psnr'\]; --task={TASK} offers "
      r"mean_level,swd,fid,kid$")):
    tasks.validate(bad)
  with pytest.raises(ValueError, match=(
      r"unknown \['fidd'\]; --task=sketch2face offers psnr,ssim,swd,fid,kid")):
    tasks.validate(tiny_config(metrics="psnr,fidd"))


def test_empty_metrics_resolve_to_each_tasks_measures_and_swd(tiny_config):
  config = tiny_config(metrics="")
  assert tasks.resolve_model(config).train.metrics == "psnr,ssim,swd"
  for task, model, expected in (
      ("unconditional", "dcgan", "swd"),
      ("label2face", "label2face", "psnr,ssim,class_colour,swd")):
    other = config_lib.with_task(config, task, model)
    assert tasks.resolve_model(other).train.metrics == expected
  sean = config_lib.with_task(config, "label2face", "label2face",
                              norm_mode="sean")
  assert tasks.resolve_model(sean).train.metrics == (
      "psnr,ssim,class_colour,region_swap,swd")


def test_few_shot_default_metrics_give_the_same_results_as_before(
    tiny_config):
  config = tasks.resolve_model(tiny_config(metrics=""))
  task = tasks.make_task(config)
  first_ref = lambda sketch, refs: refs[:, 0]
  results = evaluate.measure(task, first_ref, 16, config.train)
  heldout = few_shot_metrics.heldout_metrics(
      lambda sketch, refs: np.asarray(refs[:, 0]), task.heldout_set,
      heldout_lib.mean_photo(task.train_set),
      few_shot_metrics.EVAL_BATCH, config.data.k_refs, 16)
  assert set(results) == set(heldout) | {"swd"} == {
      "model", "other_identity_style", "mean_train_photo", "episodes",
      "psnr_gain_db_vs_other_identity_style",
      "psnr_gain_db_vs_mean_train_photo", "style_swap_toward_new_refs",
      "swd"}
  assert {k: v for k, v in results.items() if k != "swd"} == heldout
  only_ssim = task.evaluate(first_ref, 16, ["ssim"])
  assert only_ssim == {"model": {"ssim": heldout["model"]["ssim"]},
                       "other_identity_style": {
                           "ssim": heldout["other_identity_style"]["ssim"]},
                       "mean_train_photo": {
                           "ssim": heldout["mean_train_photo"]["ssim"]},
                       "episodes": 16}


def test_label2face_measures_have_their_own_names():
  results = {"model": {"l1": 1.0, "psnr": 2.0, "ssim": 0.5}, "examples": 8,
             "psnr_gain_db_vs_mean_train_photo": 1.5,
             "class_colour_error": {"hair": 0.1},
             "region_swap_hair": {"change_inside": 0.3}}
  select = label2face_metrics.select
  assert select(results, ["class_colour"]) == {
      "examples": 8, "class_colour_error": {"hair": 0.1}}
  assert select(results, ["region_swap"]) == {
      "examples": 8, "region_swap_hair": {"change_inside": 0.3}}
  assert select(results, ["psnr"]) == {
      "model": {"l1": 1.0, "psnr": 2.0}, "examples": 8,
      "psnr_gain_db_vs_mean_train_photo": 1.5}
  assert select(results, list(label2face_metrics.MEASURES)) == results
