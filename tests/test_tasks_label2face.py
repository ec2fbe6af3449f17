"""The label2face task on the shared loop: terms, checks, export, mirrored."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import step_comparison
from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf import losses
from s2f_tf import tasks
from s2f_tf import train
from s2f_tf.data import layout
from s2f_tf.tasks import label2face as label2face_task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Seconds per mirrored comparison: about 1 CPU-minute, but 4-6 minutes of
# wall time on 2 cores shared with other jobs.
MIRRORED_TIMEOUT = 900
MODES = {"spade": dict(norm_mode="spade"),
         "clade_dist": dict(norm_mode="clade", add_dist=True),
         "sean": dict(norm_mode="sean"),
         "spade_vae": dict(norm_mode="spade", use_vae=True),
         "spade_batch": dict(norm_mode="spade", param_free_norm="batch")}


def l2f_config(root, mode="sean", **train_overrides):
  """tiny_config's data, schedule and PatchGAN with a tiny label2face
  network."""
  config = config_lib.with_task(
      config_lib.tiny_config(root=root, **train_overrides), "label2face",
      "label2face", n_up=2, spade_hidden=8, style_dim=8, **MODES[mode])
  return dataclasses.replace(config, model=dataclasses.replace(
      config.model, base_channels=4))


# One upsampling (8 px to 16 px): a head block and one up block, which
# changes the width (its learned shortcut), are every kind of block the
# generator has; the training, evaluation and export checks below read no
# more (test_models_label2face builds the deeper ones).
SMALL = dict(n_up=1)


def _train(root, mode, workdir):
  """(results, state) of a 2-step train.run of `mode` that evaluates at the
  end (8 episodes), `state` the RunState the run trained.

  Only what the checks read is built: no EMA copy of G (ema_beta=0), no
  sample grid (image_every > steps; the evaluation still traces the
  sampler), one PatchGAN scale (num_d=1: D_real and D_fake are still the
  halves of its hinge loss, and feature matching reads its layers; the
  mirrored test below trains two scales), and `SMALL`'s generator.
  """
  config = config_lib.with_family(l2f_config(
      root, mode, steps=2, image_every=100, checkpoint_every=2, log_every=1,
      eval_at_end=True, eval_episodes=8, ema_beta=0.0), num_d=1, **SMALL)
  states, setup = [], train.setup
  with pytest.MonkeyPatch.context() as patch:  # Keeps what train.run built.
    patch.setattr(train, "setup",
                  lambda *args: states.append(setup(*args)) or states[-1])
    results = train.run(config, workdir)
  return results, states[0]


@pytest.fixture(scope="module")
def sean_run(tiny_data_root, tmp_path_factory):
  """(results, state, workdir) of `_train`'s sean run, shared by
  test_each_mode_trains_with_spade_loss_names[sean] (its results and
  eval.json) and, through `sean_model`, by the export and embedding tests:
  the SEAN generator's build (an eager forward pass through every region
  code) and its traced steps are the slowest part of each."""
  workdir = str(tmp_path_factory.mktemp("sean_run"))
  results, state = _train(tiny_data_root, "sean", workdir)
  return results, state, workdir


@pytest.fixture(scope="module")
def sean_model(sean_run):
  """(task, generator): the sean run's task and its trained generator, for
  test_export_round_trip_and_bad_inputs[sean] and
  test_region_codes_embedding_has_a_region_column, which only read it."""
  state = sean_run[1]
  return state.task, state.generator


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sean", "spade_vae"])
def test_each_mode_trains_with_spade_loss_names(mode, tiny_data_root,
                                                tmp_path, request):
  """SPADE's loss names, finite, and each mode's evaluation (region swaps
  with sean only). sean's run is the shared `sean_run`."""
  if mode == "sean":
    results, _, workdir = request.getfixturevalue("sean_run")
  else:
    workdir = str(tmp_path)
    results, _ = _train(tiny_data_root, mode, workdir)
  assert results["step"] == 2
  d, g = results["last"]["d"], results["last"]["g"]
  assert {"d/D_real", "d/D_fake"} <= set(d) and "d/adv" not in d
  expected = {"g/GAN", "g/GAN_Feat", "g/L1"} | (
      {"g/KLD"} if "vae" in mode else set())
  assert expected <= set(g) and all(np.isfinite(v) for v in g.values())
  with open(os.path.join(workdir, "eval.json")) as f:
    metrics = json.load(f)
  assert {"model", "other_identity_refs", "mean_train_photo",
          "class_colour_error"} <= set(metrics)
  assert ("region_swap_hair" in metrics) == (mode == "sean")


def test_d_real_and_d_fake_are_the_halves_of_the_hinge_loss():
  rng = np.random.RandomState(0)
  real = [rng.randn(3, 4, 4, 1).astype("float32"),
          rng.randn(3, 2, 2, 1).astype("float32")]
  fake = [rng.randn(3, 4, 4, 1).astype("float32"),
          rng.randn(3, 2, 2, 1).astype("float32")]
  d_real, d_fake = label2face_task.hinge_halves(real, fake)
  np.testing.assert_allclose(
      d_real, np.mean([np.maximum(1 - r, 0).mean() for r in real]), rtol=1e-5)
  np.testing.assert_allclose(
      d_fake, np.mean([np.maximum(1 + f, 0).mean() for f in fake]), rtol=1e-5)
  np.testing.assert_allclose(d_real + d_fake,
                             losses.hinge_discriminator_loss(real, fake),
                             rtol=1e-5)


@pytest.mark.parametrize("overrides,train_overrides,match", [
    (dict(add_dist=True), {}, "--add_dist .*--norm_mode=clade"),
    (dict(norm_mode="sean", use_vae=True), {}, "--use_vae is for spade"),
    (dict(norm_mode="sped"), {}, "--norm_mode='sped' is unknown"),
    (dict(n_up=5), {}, "divisible by 2\\*\\*n_up=32"),
    (dict(label_nc=20), {}, "--label_nc=20 must be in"),
    ({}, dict(gan_loss="lsgan"), "--gan_loss=hinge"),
    (dict(lambda_vgg=10.0, vgg_weights="/nope.h5"), {}, "--vgg_weights"),
])
def test_bad_configs_are_one_line_errors(overrides, train_overrides, match,
                                         tiny_data_root):
  config = config_lib.with_family(
      l2f_config(tiny_data_root, "spade", **train_overrides), **overrides)
  with pytest.raises(ValueError, match=match) as e:
    tasks.validate(config)
  assert "\n" not in str(e.value)


def test_label_past_label_nc_stops_before_training(tiny_data_root, tmp_path):
  config = config_lib.with_family(l2f_config(tiny_data_root, "clade_dist"),
                                  label_nc=layout.CLASS_ID["hair"])  # 13.
  with pytest.raises(ValueError, match=r"CelebAMask-HQ-mask-anno.*label "
                     r"value \d+ >= --label_nc=13"):
    train.run(config, str(tmp_path))
  assert not os.path.exists(os.path.join(tmp_path, "checkpoints"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["clade_dist", "sean"])
def test_export_round_trip_and_bad_inputs(mode, tiny_data_root, tmp_path,
                                         request):
  if mode == "sean":
    task, generator = request.getfixturevalue("sean_model")
  else:
    task = tasks.make_task(config_lib.with_family(
        l2f_config(tiny_data_root, mode), **SMALL))
    generator = task.build_generator()
  path = export.export(task, generator, str(tmp_path))  # Verifies to 1e-5.
  served = tf.saved_model.load(path).signatures
  assert {"serving_default", "label2face", "label2face_int32",
          "label2face_float"} <= set(served)
  size = task.config.data.image_size
  feeds = {"labels": tf.fill([1, size, size], tf.constant(19, tf.uint8))}
  if mode == "sean":
    feeds.update(refs=tf.zeros([1, 2, size, size, 3], tf.uint8),
                 ref_labels=tf.zeros([1, 2, size, size], tf.uint8))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="labels must hold class ids < label_nc=19"):
    served["label2face"](**feeds)
  feeds["labels"] = tf.zeros([1, size + 2, size + 2], tf.uint8)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=f"labels must be uint8 \\[B, {size}, {size}\\]"):
    served["label2face"](**feeds)


def test_region_codes_embedding_has_a_region_column(sean_model):
  task, generator = sean_model
  (embedding,) = task.embeddings(generator, "heldout", 8, ["regions"]).values()
  regions = embedding.metadata["region"]
  assert len(regions) == len(embedding.values) > 8  # Several per photo.
  assert set(regions) <= set(layout.CLASS_NAMES) and "skin" in set(regions)
  assert embedding.values.shape[1] == task.config.family.style_dim


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step(tiny_data_root, tmp_path):
  """As test_distribute's, for synchronized batch norm, with lazy R1.

  Batch norm is the one label2face layer that mixes the examples of a
  batch (test_models_label2face checks that every other mode's example
  reads only itself, SEAN's region codes included), so it is what replicas
  could split wrongly; this step also carries the task's own loss terms
  (feature matching, L1) and its label-map PatchGAN. The VAE's sampled
  code has no bit-for-bit twin on two replicas; its layers are spade's.
  """
  mode, lazy_r1 = "spade_batch", dict(r1_gamma=1.0, r1_interval=4)
  config = l2f_config(tiny_data_root, mode, batch_size=8, **lazy_r1)
  result = step_comparison.run_mirrored_step(config, str(tmp_path),
                                             MIRRORED_TIMEOUT)
  assert result["replicas"] == 2 and result["replicas_differ"] == []
  step_comparison.assert_within_bounds(result["groups"])


@pytest.mark.parametrize("mode", ["spade", "clade", "sean"])
def test_presets_parse_and_the_gpu_ones_need_their_vgg_file(mode, tmp_path):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top

  def parse(argv):
    fv = flags.FlagValues()
    s2f_flags.define_config_flags(fv)
    fv(["prog"] + argv)
    return s2f_flags.config_from_flags(fv)

  demo = parse([f"--flagfile={REPO}/flags/label2face_demo.cfg",
                f"--norm_mode={mode}"])
  assert (demo.model.task, demo.family.norm_mode) == ("label2face", mode)
  gpu = f"--flagfile={REPO}/flags/{mode}_celebamask_256.cfg"
  with pytest.raises(ValueError, match="--vgg_weights=PATH"):
    parse([gpu, f"--data_root={tmp_path}"])
  weights = tmp_path / "vgg19.weights.h5"
  weights.write_bytes(b"")  # Existence is checked first, contents on load.
  config = parse([gpu, f"--data_root={tmp_path}", f"--vgg_weights={weights}"])
  assert (config.family.norm_mode, config.data.image_size,
          config.family.lambda_fm, config.train.g_lr,
          config.train.d_lr) == (mode, 256, 10.0, 1e-4, 4e-4)
