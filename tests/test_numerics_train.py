"""The numerics checks inside real training runs (the tiny config with one
D scale, one downsampling and no EMA copy, `_small`), with one layer poisoned
(poisoned_layers.py)."""

import dataclasses
import os
import types

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import poisoned_layers
from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import numerics
from s2f_tf import precision as precision_lib
from s2f_tf import train

POISONED = "generator/decoder/res_block_0/adalin_1"
NEVER = 2**62  # A step no run reaches: the NaN poison switched off.


def _small(config):
  """`config` with one D scale and one downsampling, and no EMA generator:
  about half the ops of the tiny model, so its steps trace in about half
  the time, and one generator fewer to build. These checks name steps,
  layers and ops (POISONED is still there, in the generator that trains)
  and depend neither on the model's size nor on an EMA copy."""
  return dataclasses.replace(
      config, family=dataclasses.replace(config.family, num_d=1,
                                         n_downsample=1),
      train=dataclasses.replace(config.train, ema_beta=0.0))


def _built_run(config, directory):
  """(state, snapshot): a set-up run and a checkpoint of its start."""
  state = train.setup(config, directory)
  # Made now, as a save would, so that the snapshot restores it too.
  state.checkpoint.save_counter  # pylint: disable=pointless-statement
  return state, state.checkpoint.write(os.path.join(directory, "start"))


def _fresh_run(built, workdir, **loop_overrides):
  """The shared run back at its start, writing to `workdir`.

  Every variable (weights, optimizer slots, spectral-norm vectors, the step)
  is restored from the snapshot, so a test sees what a new `train.setup`
  would give it, whichever test ran before. `loop_overrides` are the
  settings only the loop reads (log, checkpoint and collapse cadence).
  The checkpoint manager is the test's own, in `workdir`.
  """
  state, snapshot = built
  state.checkpoint.read(snapshot).assert_consumed()
  config = state.config
  config = dataclasses.replace(config, train=dataclasses.replace(
      config.train, **loop_overrides))
  return dataclasses.replace(
      state, config=config, workdir=workdir,
      manager=checkpointing.make_manager(state.checkpoint, workdir,
                                         config.train.keep_checkpoints))


@pytest.fixture(scope="module")
def switchable_run(tiny_data_root, tmp_path_factory):
  """One tiny alternating run, set up and traced once, with two poisons
  that variables switch: G's gradient in POISONED turns NaN from step
  `nan_from` (NEVER: off), and the decoder's output is multiplied by
  `decoder_gain` (0.0: an all-zero generator; 1.0 leaves it, and its
  gradient, exactly unchanged).

  Holds (built, nan_from, decoder_gain), `built` as `_fresh_run` takes it.
  Shared by test_poisoned_layer_stops_the_same_step_and_keeps_last_checkpoint
  and both cases of test_collapse_is_detected_on_an_all_zero_generator:
  each would otherwise build and trace the same D and G steps.
  """
  directory = str(tmp_path_factory.mktemp("switchable_run"))
  built = _built_run(
      _small(config_lib.tiny_config(root=tiny_data_root, steps=8)), directory)
  state = built[0]
  nan_from = tf.Variable(NEVER, dtype=tf.int64, trainable=False)
  decoder_gain = tf.Variable(1.0, trainable=False)
  poisoned_layers.poison(state.generator, POISONED,
                         poisoned_layers.nan_gradient_from(state.step,
                                                           nan_from))
  poisoned_layers.poison(state.generator, "generator/decoder",
                         lambda y: y * decoder_gain)
  yield types.SimpleNamespace(built=built, nan_from=nan_from,
                              decoder_gain=decoder_gain)


def test_poisoned_layer_stops_the_same_step_and_keeps_last_checkpoint(
    switchable_run, tmp_path):
  workdir = str(tmp_path)
  switchable_run.decoder_gain.assign(1.0)
  # Steps 0-3 train and save ckpt-1 to ckpt-4; step 4's G gradient is NaN.
  switchable_run.nan_from.assign(4)
  state = _fresh_run(switchable_run.built, workdir, checkpoint_every=1)
  with pytest.raises(numerics.NumericsError) as info:
    train.Loop(state).run()
  text = str(info.value)
  assert "generator step at step 4" in text
  assert f"first bad layer (backprop order): {POISONED}" in text
  assert int(state.step.numpy()) == 4  # Stopped in the poisoned step.
  latest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  assert latest.endswith("ckpt-4")


def test_shared_step_names_the_poisoned_layer_and_stops_that_step(
    tiny_config, tmp_path):
  """--shared_generator_pass: one compiled step updates both players, and
  the report still names the player, the step and the layer."""
  workdir = str(tmp_path)
  state = train.setup(_small(tiny_config(shared_generator_pass=True, steps=8,
                                         checkpoint_every=1)), workdir)
  poisoned_layers.poison(state.generator, POISONED,
                         poisoned_layers.nan_gradient_from(state.step, 4))
  loop = train.Loop(state)
  with pytest.raises(numerics.NumericsError) as info:
    loop.run()
  text = str(info.value)
  assert "generator step at step 4" in text
  assert f"first bad layer (backprop order): {POISONED}" in text
  assert set(loop.guard.functions) == {"shared/shared_step"}
  assert int(state.step.numpy()) == 4  # Stopped in the poisoned step.
  latest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  assert latest.endswith("ckpt-4")


@pytest.fixture(scope="module")
def full_mode_run(tiny_data_root, tmp_path_factory):
  """A --check_numerics=full run whose POISONED layer returns
  y + sqrt(relu(y) * 0 - offset), set up once and its steps traced (with
  every op checked) by whichever case of
  test_full_mode_names_the_op_and_layer runs first.

  offset = 1e3 makes the Sqrt itself NaN (the forward pass); offset = 0
  leaves the forward unchanged and makes SqrtGrad divide by zero (the
  backward pass only). Holds (built, offset), `built` as `_fresh_run`
  takes it; both cases share it, since they trace the same steps.
  """
  directory = str(tmp_path_factory.mktemp("full_mode_run"))
  built = _built_run(_small(config_lib.tiny_config(
      root=tiny_data_root, steps=2, check_numerics="full")), directory)
  offset = tf.Variable(0.0, trainable=False)
  poisoned_layers.poison(
      built[0].generator, POISONED,
      lambda y: y + tf.sqrt(tf.nn.relu(y) * 0.0 - offset))
  return built, offset


@pytest.mark.slow
@pytest.mark.parametrize("where", ["forward", "backward"])
def test_full_mode_names_the_op_and_layer(where, full_mode_run, tmp_path):
  built, offset = full_mode_run
  offset.assign(1e3 if where == "forward" else 0.0)
  state = _fresh_run(built, str(tmp_path))
  with numerics.checking_every_op():  # After the build, as train.run.
    with pytest.raises(numerics.NumericsError) as info:
      train.Loop(state).run()
  text = str(info.value)
  assert f"in the {where} pass" in text
  if where == "forward":
    assert f"op Sqrt in layer {POISONED}" in text
  else:
    assert f"op SqrtGrad in layer {POISONED}" in text


def test_float16_overflow_skips_the_step_and_halves_the_scale(
    tiny_config, tmp_path):
  config = _small(tiny_config(steps=3, precision="mixed_float16",
                              log_every=1))
  with precision_lib.precision_policy("mixed_float16"):
    state = train.setup(config, str(tmp_path))
    overflow_once = tf.Variable(True)

    @tf.custom_gradient
    def inf_gradient_once(x):
      def grad(dy):
        scale = tf.where(overflow_once, tf.constant(np.inf, dy.dtype), 1.0)
        overflow_once.assign(False)
        return dy * scale
      return tf.identity(x), grad

    poisoned_layers.poison(state.generator, POISONED, inf_gradient_once)
    before = [v.numpy().copy() for v in state.generator.trainable_variables]
    scale_before = float(state.g_opt.dynamic_scale.numpy())
    loop = train.Loop(state)
    batch = next(loop.iterator)
    out = state.steps.function("g_step")(batch)
    assert float(out.all_finite) == 0.0
    assert not numerics.check_finite(
        0, "generator",
        finite_terms={k: float(v) for k, v in out.finite_terms.items()},
        finite_grads=out.finite_grads.numpy(),
        values={k: float(v) for k, v in out.measurements.items()},
        loss_scale=float(out.loss_scale),
        variable_paths=state.steps.variable_paths(0)["g"],
        loss_scaled=True)
    after = [v.numpy() for v in state.generator.trainable_variables]
    for a, b in zip(before, after):
      np.testing.assert_array_equal(a, b)  # The update was skipped.
    assert float(state.g_opt.dynamic_scale.numpy()) == scale_before / 2
    results = loop.run()  # And training goes on.
  assert results["step"] == 3
  assert np.isfinite(results["last"]["g"]["g/total"])


@pytest.mark.parametrize("stop", [False, True])
def test_collapse_is_detected_on_an_all_zero_generator(
    stop, switchable_run, tmp_path, caplog):
  switchable_run.nan_from.assign(NEVER)
  switchable_run.decoder_gain.assign(0.0)  # An all-zero generator output.
  state = _fresh_run(switchable_run.built, str(tmp_path), log_every=1,
                     collapse_patience=3, stop_on_collapse=stop)
  if stop:
    with pytest.raises(numerics.NumericsError, match="COLLAPSE at step 3"):
      train.Loop(state).run()
  else:
    train.Loop(state).run()
    assert "COLLAPSE at step 3: generator output" in caplog.text


@pytest.mark.slow
def test_long_run_never_retraces_and_writes_histograms(tiny_config, tmp_path):
  workdir = str(tmp_path)
  # Every periodic call (log, grid, checkpoint, histograms, evaluation,
  # the lazy R1 step) comes back at least twice: a retrace would show.
  config = _small(tiny_config(steps=20, log_every=5, image_every=10,
                              checkpoint_every=10, eval_every=10,
                              eval_episodes=8, histogram_every=10,
                              r1_gamma=1.0, r1_interval=4))
  state = train.setup(config, workdir)
  loop = train.Loop(state)
  loop.run()
  names = set(loop.guard.functions)
  assert names == {"train/d_step", "train/d_step_reg", "train/g_step",
                   "sample", "train/gradients"}
  for name, function in loop.guard.functions.items():
    assert function.experimental_get_tracing_count() == 1, name
    assert function.get_concrete_function().graph.finalized, name

  events = event_accumulator.EventAccumulator(
      os.path.join(workdir, "train"),
      size_guidance={event_accumulator.TENSORS: 0})
  events.Reload()
  tags = set(events.Tags()["tensors"])
  for player, key in (("generator", "g"), ("discriminator", "d")):
    for v in state.steps.variables[key]:
      assert f"weights/{player}/{v.path}" in tags
      assert f"grads/{player}/{v.path}" in tags
  assert "rho/generator" in tags
  steps = [e.step for e in events.Tensors("grads/generator/" +
                                           state.steps.variables["g"][0].path)]
  assert steps == [10, 20]
  assert "eval/model/psnr" in tags
