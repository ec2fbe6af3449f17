"""One real run of the loop on the tiny config: learning, resume, precision."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import tasks
from s2f_tf import precision as precision_lib
from s2f_tf import train


def _weights(model):
  return [v.numpy().copy() for v in model.variables]


def _shallow(config):
  """`config` with fewer layers than the tiny config's.

  For the tests whose checks do not depend on the depth (files written,
  what a resume restores, dtypes, bit-for-bit reproduction), since
  building and tracing the steps are their cost. Not for a test of
  learning.
  """
  return config_lib.with_family(config, n_downsample=1, num_d=1, d_layers=1)


def test_one_state_updates_its_ema_learns_and_samples_with_any_k(
    tiny_config, tmp_path):
  """Three checks on one built state (a setup and the step tracing are most
  of the cost; each check used to build its own):

  - the first G step's EMA update is ema = beta * ema + (1 - beta) * w, and
    the EMA generator has nothing trainable;
  - 50 D and G steps on a fixed batch bring g/l1 below 0.7x and g/total
    below their first values (ema_beta feeds no loss: the trajectory is
    the default config's);
  - the sampler takes another K than training's, and K=1 equals one ref
    repeated 4 times (the same averaged style code).
  """
  state = train.setup(tiny_config(ema_beta=0.9), str(tmp_path))
  batch = next(iter(state.dataset))

  ema_before = _weights(state.ema_generator)
  first = state.steps.function("g_step")(batch)
  for e0, w, e1 in zip(ema_before, _weights(state.generator),
                       _weights(state.ema_generator)):
    np.testing.assert_allclose(e1, 0.9 * e0 + 0.1 * w, rtol=1e-5, atol=1e-7)
  assert not state.ema_generator.trainable_variables

  for _ in range(49):
    state.steps.function("d_step")(batch)
    last = state.steps.function("g_step")(batch)
  first, last = first.measurements, last.measurements
  assert float(last["g/l1"]) < 0.7 * float(first["g/l1"])
  assert float(last["g/total"]) < float(first["g/total"])

  refs = batch["refs"]
  for k in (1, 4):
    refs_k = tf.repeat(refs[:, :1], k, axis=1)
    out = state.sample(batch["sketch"], refs_k)
    assert out.shape == batch["photo"].shape
  one = state.sample(batch["sketch"], refs[:, :1])
  four = state.sample(batch["sketch"], tf.repeat(refs[:, :1], 4, axis=1))
  np.testing.assert_allclose(one.numpy(), four.numpy(), atol=1e-5)


@pytest.mark.slow
def test_run_writes_workdir_resumes_and_s2f_eval_reproduces_its_end(
    tiny_config, tmp_path):
  """One run of two sessions (training is most of the cost):

  - the first session writes config.json, one grid, events and a checkpoint
    holding every generator variable; a setup resumes at its step with the
    same weights (raw and EMA) and optimizer step;
  - the second session continues to the new --steps and its progress.gif
    holds both sessions' grids;
  - s2f-eval, a new process on the finished run, reproduces the numbers
    the end-of-training evaluation returned and wrote, bit for bit.
  """
  workdir = str(tmp_path / "run")
  config = _shallow(tiny_config(steps=10, checkpoint_every=10))
  results = train.run(config, workdir)
  assert results["step"] == 10
  assert os.path.exists(os.path.join(workdir, "config.json"))
  assert os.listdir(os.path.join(workdir, "samples")) == ["step_0000010.png"]
  assert any(f.startswith("events") for f in
             os.listdir(os.path.join(workdir, "train")))
  saved = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  assert saved.endswith("ckpt-10")
  saved_names = [n for n, _ in tf.train.list_variables(saved)
                 if n.startswith("generator/")]
  _, ema, _ = tasks.restore(workdir)  # EMA by default.
  assert len(saved_names) == len(ema.variables)  # None left out.

  state = train.setup(config, workdir)  # Resume without training.
  assert int(state.step.numpy()) == 10
  assert int(state.g_opt.iterations.numpy()) == 10
  _, generator, step = tasks.restore(workdir, prefer_ema=False)
  assert step == 10
  for a, b in zip(_weights(state.generator), _weights(generator)):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(_weights(state.ema_generator), _weights(ema)):
    np.testing.assert_array_equal(a, b)

  more = train.run(_shallow(tiny_config(
      steps=12, checkpoint_every=10, image_every=6, eval_at_end=True,
      eval_episodes=8)), workdir)
  assert more["step"] == 12
  with Image.open(more["progress_gif"]) as gif:  # Both sessions' grids.
    assert gif.n_frames == 2
  assert tf.train.latest_checkpoint(
      checkpointing.checkpoint_dir(workdir)).endswith("ckpt-12")

  os.remove(os.path.join(workdir, "eval.json"))
  result = subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.eval_main", f"--workdir={workdir}"],
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  again = json.loads(result.stdout)
  assert again == json.loads(json.dumps(more["eval"]))  # Bit for bit.
  with open(os.path.join(workdir, "eval.json")) as f:
    assert json.load(f) == again
  for name in ("model", "other_identity_style", "mean_train_photo"):
    assert set(again[name]) == {"l1", "psnr", "ssim"}
  assert again["step"] == 12 and again["episodes"] >= 8


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_steps_give_finite_float32_outputs(
    precision, tiny_config, tmp_path):
  config = _shallow(tiny_config(steps=2, precision=precision))
  with precision_lib.precision_policy(precision):
    state = train.setup(config, str(tmp_path))
    batch = next(iter(state.dataset))
    d_out = state.steps.function("d_step")(batch)
    g_out = state.steps.function("g_step")(batch)
    image = state.sample(batch["sketch"], batch["refs"])
  assert image.dtype == tf.float32
  assert np.isfinite(image.numpy()).all()
  for out in (d_out, g_out):
    assert float(out.all_finite) == 1.0
    for name, value in out.measurements.items():
      assert value.dtype == tf.float32, name
      assert np.isfinite(value.numpy()).all(), name
  compute = {v.dtype for v in state.generator.trainable_variables}
  assert compute == {"float32"}  # Master weights stay float32.
  if precision == "mixed_float16":
    assert float(g_out.loss_scale) > 1.0
