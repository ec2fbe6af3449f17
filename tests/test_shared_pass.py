"""--shared_generator_pass: one G forward per iteration for both players.

The shared step must make exactly the updates of a D step followed by a G
step on the same batch (G's forward is deterministic, and the G half sees
the updated D); what it saves is the second forward pass, not arithmetic
that changes the result.
"""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import step_comparison
from s2f_tf import config as config_lib
from s2f_tf import precision as precision_lib
from s2f_tf import tasks
from s2f_tf import train


def _tiny_label2face(config):
  """`config` as a tiny spade label2face run (tiny_config's PatchGAN)."""
  config = config_lib.with_task(config, "label2face", "label2face",
                                norm_mode="spade", n_up=2, spade_hidden=8,
                                style_dim=8)
  return dataclasses.replace(config, model=dataclasses.replace(
      config.model, base_channels=4))


def _owners(state):
  return {"generator": state.generator, "ema": state.ema_generator,
          "discriminator": state.discriminator, "g_opt": state.g_opt,
          "d_opt": state.d_opt}


def _state_variables(state):
  """Every variable a step can change, by owner and path."""
  return {f"{name}/{v.path}": v.numpy().copy()
          for name, owner in _owners(state).items() for v in owner.variables}


def _restore(state, values):
  """Assigns `_state_variables`' `values` back to every variable."""
  for name, owner in _owners(state).items():
    for v in owner.variables:
      v.assign(values[f"{name}/{v.path}"])


def _rounding_only_gradients(state, batch):
  """Weights whose gradient is zero but for rounding (a bias just before an
  instance norm): Adam turns any rounding noise, which the order of
  summation changes, into a full step of either sign."""
  paths = set()
  for key, owner, grads in zip("gd", ("generator", "discriminator"),
                               state.steps.function("gradients")(batch)):
    for v, g in zip(state.steps.variables[key], grads):
      if np.abs(g.numpy()).max() < 1e-5:  # Real ones here are above 1e-3.
        paths.add(f"{owner}/{v.path}")
  return paths


def _measurements(out):
  return {k: float(v) for k, v in out.measurements.items()}


@pytest.mark.slow
@pytest.mark.parametrize("train_overrides,variant", [
    # RMSprop, D clipped before G reads it, G's CAM logits travel with the
    # fake, weight decay on both players.
    ({"gan_loss": "wgan", "weight_decay": 1e-4},
     lambda config: config_lib.with_family(config, cam=True)),
    ({"precision": "mixed_float16"}, lambda config: config),  # Hinge.
    ({}, _tiny_label2face),
], ids=["wgan_clip_cam_decay", "float16_hinge", "label2face_spade"])
def test_shared_step_equals_d_step_then_g_step(train_overrides, variant,
                                               tiny_config, tmp_path):
  """One run takes a D step then a G step on a batch; then, restored to its
  start (every variable a step can change), the shared step on the same
  batch. A second run of the same config would start from the same values
  (the seeded set-up) and trace the same steps: restoring saves its
  set-up, not any arithmetic."""
  config = variant(tiny_config(shared_generator_pass=True,
                               **train_overrides))
  with precision_lib.precision_policy(config.train.precision):
    state = train.setup(config, str(tmp_path))
    before = _state_variables(state)
    batch = next(iter(state.dataset))
    g_state = [v.numpy() for v in state.generator.non_trainable_variables]
    d_out = state.steps.function("d_step")(batch)
    # The D step's G forward also advances G's training-time state (the
    # spectral-norm u of label2face's G); the shared pass does so once.
    for v, value in zip(state.generator.non_trainable_variables, g_state):
      v.assign(value)
    g_out = state.steps.function("g_step")(batch)
  expected = _state_variables(state)
  rounding_only = _rounding_only_gradients(state, batch)
  _restore(state, before)
  for name, value in _state_variables(state).items():
    np.testing.assert_array_equal(value, before[name], err_msg=name)
  with precision_lib.precision_policy(config.train.precision):
    shared_d, shared_g = state.steps.function("shared_step")(batch)
  moved = [n for n in expected if not np.array_equal(expected[n], before[n])]
  assert any(n.startswith("generator/") for n in moved)
  assert any(n.startswith("discriminator/") for n in moved)
  for name, value in _state_variables(state).items():
    if name not in rounding_only:
      np.testing.assert_allclose(value, expected[name], rtol=1e-5, atol=1e-5,
                                 err_msg=name)
  for out, reference in ((shared_d, d_out), (shared_g, g_out)):
    assert float(out.all_finite) == 1.0
    got, want = _measurements(out), _measurements(reference)
    assert set(got) == set(want)
    for name, value in want.items():
      np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6,
                                 err_msg=name)
    assert float(out.loss_scale) == float(reference.loss_scale)


@pytest.mark.slow
def test_xla_shared_step_matches_the_plain_one(tiny_config, tmp_path,
                                               monkeypatch):
  """XLA fuses and reorders the plain graph's float32 arithmetic: gradients,
  weights and EMA weights after one SGD step agree to its rounding, by the
  bounds the mirrored comparison uses (step_comparison.py).

  The suite's one XLA comparison: every step (D, G, shared) is compiled by
  the same `TrainSteps._compile`, and the shared step holds both players'
  updates and the EMA."""
  monkeypatch.setattr(precision_lib, "make_optimizer", step_comparison.sgd)
  plain, jit = (train.setup(tiny_config(shared_generator_pass=True,
                                        jit_compile=jit),
                            str(tmp_path / str(jit)))
                for jit in (False, True))
  config = plain.config
  groups = step_comparison.compare(
      plain, jit, iter(plain.dataset),
      config.train.batch_size * config.data.image_size**2)
  step_comparison.assert_within_bounds(groups)


class _CountingIterator:
  """Counts the batches the loop draws."""

  def __init__(self, iterator):
    self.iterator, self.drawn = iterator, 0

  def __next__(self):
    self.drawn += 1
    return next(self.iterator)


class _CountingLoop(train.Loop):
  """A train.Loop that counts its batches; `train.run` builds one in place
  of its Loop when patched in, and each is kept in `made`."""

  made = []

  def __init__(self, state):
    super().__init__(state)
    self.iterator = _CountingIterator(self.iterator)
    self.made.append(self)


def _one_d_scale_one_downsampling(config):
  """`config`'s model with half its ops (one D scale, one downsampling), so
  its three steps trace in about half the time: what the loop draws and
  traces does not depend on the model's size."""
  return dataclasses.replace(config, family=dataclasses.replace(
      config.family, num_d=1, n_downsample=1))


def test_loop_draws_one_batch_per_shared_step_and_traces_once(tiny_config,
                                                              tmp_path):
  """The first --shared_pass_steps share the pass (a batch each), then the
  alternating steps (a batch per player) take over. (Every step sharing
  it, the default --shared_pass_steps=0, is test_run_with_the_flag_...'s
  run.)"""
  config = _one_d_scale_one_downsampling(tiny_config(
      steps=5, shared_generator_pass=True, log_every=1, image_every=100,
      checkpoint_every=100, shared_pass_steps=3))
  loop = train.Loop(train.setup(config, str(tmp_path)))
  loop.iterator = _CountingIterator(loop.iterator)
  results = loop.run()
  assert results["step"] == 5
  assert loop.iterator.drawn == 3 + 2 * 2
  assert set(loop.guard.functions) == {"shared/shared_step", "train/d_step",
                                       "train/g_step"}
  for function in loop.guard.functions.values():
    assert function.experimental_get_tracing_count() == 1
  assert {"d/total", "d/adv"} <= set(results["last"]["d"])
  assert {"g/total", "g/l1"} <= set(results["last"]["g"])


def test_run_with_the_flag_lowers_l1_and_records_it(tiny_config, tmp_path,
                                                    monkeypatch):
  """`train.run` with --shared_generator_pass: config.json records the flag,
  G's L1 goes down, and every step (--shared_pass_steps=0) shares the pass:
  one batch per step (alternating steps would draw two), one compiled step
  (beside the sampler of the grid), traced once."""
  workdir = str(tmp_path)
  config = tiny_config(steps=40, shared_generator_pass=True, log_every=5,
                       image_every=40, checkpoint_every=40)
  monkeypatch.setattr(_CountingLoop, "made", [])
  monkeypatch.setattr(train, "Loop", _CountingLoop)
  results = train.run(config, workdir)
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["train"]["shared_generator_pass"] is True
  events = event_accumulator.EventAccumulator(
      os.path.join(workdir, "train"),
      size_guidance={event_accumulator.TENSORS: 0})
  events.Reload()
  l1 = [float(tf.make_ndarray(e.tensor_proto))
        for e in events.Tensors("train/g/l1")]
  assert len(l1) == 8
  assert np.mean(l1[-2:]) < 0.8 * np.mean(l1[:2])

  loop, = _CountingLoop.made
  assert results["step"] == 40
  assert loop.iterator.drawn == 40
  assert set(loop.guard.functions) == {"shared/shared_step", "sample"}
  for function in loop.guard.functions.values():
    assert function.experimental_get_tracing_count() == 1
  assert {"d/total", "d/adv"} <= set(results["last"]["d"])
  assert {"g/total", "g/l1"} <= set(results["last"]["g"])


@pytest.mark.parametrize("overrides,message", [
    ({"n_critic": 2}, "updates D once per G step; use --n_critic=1"),
    ({"r1_gamma": 1.0}, "has no lazy-regularisation phase"),
    ({"shared_pass_steps": 21}, r"must be in \[0, --steps=20\]"),
])
def test_flag_is_refused_where_the_shared_step_cannot_run(
    overrides, message, tiny_config):
  config = tiny_config(shared_generator_pass=True, **overrides)
  with pytest.raises(ValueError, match=message):
    tasks.validate(config)


def test_shared_pass_steps_without_the_flag_is_refused(tiny_config):
  with pytest.raises(ValueError, match="--shared_pass_steps=5 says how long "
                     "to share the generator pass; add --shared_generator_"
                     "pass"):
    tasks.validate(tiny_config(shared_pass_steps=5))


def test_flag_is_refused_for_a_task_that_does_not_share_its_pass(
    tiny_config):
  config = config_lib.with_task(tiny_config(shared_generator_pass=True),
                                "unconditional", "dcgan")
  config = dataclasses.replace(
      config, data=dataclasses.replace(config.data, image_size=32))
  tasks.validate(dataclasses.replace(config, train=dataclasses.replace(
      config.train, shared_generator_pass=False)))  # Valid but for the flag.
  with pytest.raises(ValueError, match="^--task=unconditional does not share "
                     "its generator pass; drop --shared_generator_pass$"):
    tasks.validate(config)
  tasks.validate(tiny_config(shared_generator_pass=True))  # sketch2face.
