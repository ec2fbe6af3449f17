"""The numerics checks inside real training runs (tiny config), with one
layer poisoned (poisoned_layers.py)."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import poisoned_layers
from s2f_tf import checkpointing
from s2f_tf import numerics
from s2f_tf import precision as precision_lib
from s2f_tf import train

POISONED = "generator/decoder/res_block_0/adalin_1"


def _inf_in_backward_only(y):
  """Adds sqrt(0): the forward is unchanged, SqrtGrad divides by zero."""
  return y + tf.sqrt(tf.nn.relu(y) * 0.0)


def test_poisoned_layer_stops_the_same_step_and_keeps_last_checkpoint(
    tiny_config, tmp_path):
  workdir = str(tmp_path)
  state = train.setup(tiny_config(steps=8, checkpoint_every=1), workdir)
  # Steps 0-3 train and save ckpt-1 to ckpt-4; step 4's G gradient is NaN.
  poisoned_layers.poison(state.generator, POISONED,
                         poisoned_layers.nan_gradient_from(state.step, 4))
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
  state = train.setup(tiny_config(shared_generator_pass=True, steps=8,
                                  checkpoint_every=1), workdir)
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


@pytest.mark.slow
@pytest.mark.parametrize("where", ["forward", "backward"])
def test_full_mode_names_the_op_and_layer(where, tiny_config, tmp_path):
  config = tiny_config(steps=2, check_numerics="full")
  state = train.setup(config, str(tmp_path))
  if where == "forward":
    poisoned_layers.poison(state.generator, POISONED,
                           lambda y: tf.sqrt(y - 1e3))
  else:
    poisoned_layers.poison(state.generator, POISONED, _inf_in_backward_only)
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
  config = tiny_config(steps=3, precision="mixed_float16", log_every=1)
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
    stop, tiny_config, tmp_path, caplog):
  config = tiny_config(steps=8, log_every=1, collapse_patience=3,
                       stop_on_collapse=stop)
  state = train.setup(config, str(tmp_path))
  poisoned_layers.poison(state.generator, "generator/decoder",
                         lambda y: y * 0.0)
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
  config = tiny_config(steps=60, log_every=10, image_every=20,
                       checkpoint_every=20, eval_every=30, eval_episodes=8,
                       histogram_every=20, r1_gamma=1.0, r1_interval=4)
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
  assert steps == [20, 40, 60]
  assert "eval/model/psnr" in tags
