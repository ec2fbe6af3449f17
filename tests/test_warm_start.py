"""--init_from: partial warm start from another run's checkpoint."""

import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import tasks
from s2f_tf import train


def _save_as_run(state, config, workdir, seed):
  """Writes `state` as a run at step 2 writes it, without running a step.

  The generator is first moved off its current values (by `seed`), so its
  raw and EMA weights differ as after training; the step and optimizer
  counters read 2. Written by the loop's own config and checkpoint code.
  """
  rng = np.random.default_rng(seed)
  for v in state.generator.trainable_variables:
    v.assign(v.numpy() + rng.normal(0.0, 0.1, v.shape).astype(np.float32))
  for counter in (state.step, state.g_opt.iterations, state.d_opt.iterations):
    counter.assign(2)
  os.makedirs(workdir)
  config_lib.save_config(config, workdir)
  checkpointing.save(checkpointing.make_manager(
      state.checkpoint, workdir, config.train.keep_checkpoints), 2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data_root):
  """Two runs' folders and their config, shared by every test here.

  "source": a run to start from (seed 0). "own": another run with other
  generator weights, for the test that a resume keeps them. Both are
  written from one set-up state (`_save_as_run`) rather than trained:
  tracing and running steps are most of a run's cost, and every part a
  warm start must copy, or must not, still differs from a fresh seed-1
  state's and between the two runs.
  """
  base = tmp_path_factory.mktemp("runs")
  config = config_lib.tiny_config(root=tiny_data_root, steps=2,
                                  checkpoint_every=2, ema_beta=0.5)
  state = train.setup(config, str(base / "setup"))
  folders = {"source": str(base / "source"), "own": str(base / "own")}
  _save_as_run(state, config, folders["source"], seed=0)
  _save_as_run(state, config, folders["own"], seed=2)
  return folders, config


@pytest.fixture
def source_run(runs):
  """(the source run's folder, its config)."""
  folders, config = runs
  return folders["source"], config


def _saved(workdir, part):
  """{path: value} of one part of the run's newest checkpoint."""
  path = checkpointing.saved_checkpoints(
      checkpointing.checkpoint_dir(workdir))[0]
  reader = tf.train.load_checkpoint(path)
  return {p: reader.get_tensor(key) for (owner, p), key in
          checkpointing._saved_paths(reader).items()  # pylint: disable=protected-access
          if owner == part}


def _target(source_config, init_from, **family_overrides):
  return dataclasses.replace(
      config_lib.with_family(source_config, **family_overrides),
      train=dataclasses.replace(source_config.train, seed=1,
                                init_from=init_from))


def _generator(config, seed):
  """The config's generator alone, initialized from `seed`.

  For the tests that call checkpointing.warm_start directly: it loads into
  the models it is given, so the discriminator, EMA copy, optimizers, data
  and steps of a full train.setup would be built for nothing.
  """
  keras.utils.set_random_seed(seed)
  return tasks.make_task(config).build_generator()


def test_generator_selector_copies_generator_and_ema_only(source_run,
                                                          tmp_path):
  src, config = source_run
  state = train.setup(_target(config, f"{src}:generator"), str(tmp_path))
  for part, model in (("generator", state.generator),
                      ("generator_ema", state.ema_generator)):
    saved = _saved(src, part)
    assert len(saved) == len(model.variables)
    for v in model.variables:
      np.testing.assert_array_equal(v.numpy(), saved[v.path])
  saved_d = _saved(src, "discriminator")
  assert not any(np.array_equal(v.numpy(), saved_d[v.path])
                 for v in state.discriminator.trainable_variables
                 if "kernel" in v.path)  # Seed 1's own, not the source's.
  assert int(state.step.numpy()) == 0
  assert int(state.g_opt.iterations.numpy()) == 0


def test_other_shapes_are_skipped_and_named(source_run, tmp_path):
  src, config = source_run
  state = train.setup(_target(config, src, d_channels=4), str(tmp_path))
  g_saved = _saved(src, "generator")
  for v in state.generator.variables:
    np.testing.assert_array_equal(v.numpy(), g_saved[v.path])
  result = checkpointing.warm_start(src, {"discriminator":
                                          state.discriminator})
  assert result.skipped  # Every conv of the thinner D has another shape.
  assert any("is [4, 4, 4, 4] here, [4, 4, 4, 8] there" in s
             for s in result.skipped), result.skipped
  assert "skipped" in result.summary() and "loaded" in result.summary()


def test_path_prefix_selects_one_network(source_run):
  src, config = source_run
  generator = _generator(config, seed=1)
  prefix = "generator/style_mlp/"
  before = {v.path: v.numpy().copy() for v in generator.variables}
  result = checkpointing.warm_start(f"{src}:{prefix}",
                                    {"generator": generator})
  saved = _saved(src, "generator")
  assert result.loaded and all(p.startswith("generator:" + prefix)
                               for p in result.loaded)
  for v in generator.variables:
    want = saved[v.path] if v.path.startswith(prefix) else before[v.path]
    np.testing.assert_array_equal(v.numpy(), want)


def test_a_selector_that_matches_nothing_is_an_error(source_run):
  src, config = source_run
  with pytest.raises(ValueError, match="matched no variable"):
    checkpointing.warm_start(f"{src}:generator/no_such_layer/",
                             {"generator": _generator(config, seed=0)})


def test_a_missing_run_is_a_config_error(source_run, tmp_path):
  _, config = source_run
  missing = str(tmp_path / "nowhere")
  with pytest.raises(ValueError, match="nowhere.*neither a folder"):
    config_lib.validate(_target(config, f"{missing}:generator"))
  with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
    checkpointing.warm_start(str(tmp_path), {})


def test_a_resume_keeps_its_own_weights(runs):
  folders, config = runs
  own = folders["own"]
  resumed = train.setup(_target(config, folders["source"]), own)  # Resumes.
  saved = _saved(own, "generator")
  for v in resumed.generator.variables:
    np.testing.assert_array_equal(v.numpy(), saved[v.path])
