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
from s2f_tf import tasks
from s2f_tf import precision as precision_lib
from s2f_tf import train


def _weights(model):
  return [v.numpy().copy() for v in model.variables]


def test_losses_go_down_on_a_fixed_batch(tiny_config, tmp_path):
  config = tiny_config()
  state = train.setup(config, str(tmp_path))
  batch = next(iter(state.dataset))
  first = state.steps.function("g_step")(batch)
  for _ in range(49):
    state.steps.function("d_step")(batch)
    last = state.steps.function("g_step")(batch)
  first, last = first.measurements, last.measurements
  assert float(last["g/l1"]) < 0.7 * float(first["g/l1"])
  assert float(last["g/total"]) < float(first["g/total"])


@pytest.mark.slow
def test_run_writes_workdir_and_resumes_at_same_step(tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  config = tiny_config(steps=10, checkpoint_every=10)
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
  _, generator, _ = tasks.restore(workdir)
  assert len(saved_names) == len(generator.variables)  # None left out.

  state = train.setup(config, workdir)  # Resume without training.
  assert int(state.step.numpy()) == 10
  assert int(state.g_opt.iterations.numpy()) == 10
  _, generator, step = tasks.restore(workdir, prefer_ema=False)
  assert step == 10
  for a, b in zip(_weights(state.generator), _weights(generator)):
    np.testing.assert_array_equal(a, b)
  _, ema, _ = tasks.restore(workdir)  # EMA by default.
  for a, b in zip(_weights(state.ema_generator), _weights(ema)):
    np.testing.assert_array_equal(a, b)

  more = train.run(tiny_config(steps=12, checkpoint_every=10, image_every=6),
                   workdir)
  assert more["step"] == 12
  with Image.open(more["progress_gif"]) as gif:  # Both sessions' grids.
    assert gif.n_frames == 2
  assert tf.train.latest_checkpoint(
      checkpointing.checkpoint_dir(workdir)).endswith("ckpt-12")


def test_ema_update_matches_its_formula(tiny_config, tmp_path):
  state = train.setup(tiny_config(ema_beta=0.9), str(tmp_path))
  ema_before = _weights(state.ema_generator)
  state.steps.function("g_step")(next(iter(state.dataset)))
  for e0, w, e1 in zip(ema_before, _weights(state.generator),
                       _weights(state.ema_generator)):
    np.testing.assert_allclose(e1, 0.9 * e0 + 0.1 * w, rtol=1e-5, atol=1e-7)
  assert not state.ema_generator.trainable_variables


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_steps_give_finite_float32_outputs(
    precision, tiny_config, tmp_path):
  config = tiny_config(steps=2, precision=precision)
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


def test_inference_with_another_k(tiny_config, tmp_path):
  state = train.setup(tiny_config(), str(tmp_path))
  batch = next(iter(state.dataset))
  refs = batch["refs"]
  for k in (1, 4):
    refs_k = tf.repeat(refs[:, :1], k, axis=1)
    out = state.sample(batch["sketch"], refs_k)
    assert out.shape == batch["photo"].shape
  # K=1 with the same ref repeated is the same averaged style code.
  one = state.sample(batch["sketch"], refs[:, :1])
  four = state.sample(batch["sketch"], tf.repeat(refs[:, :1], 4, axis=1))
  np.testing.assert_allclose(one.numpy(), four.numpy(), atol=1e-5)


@pytest.mark.slow
def test_s2f_eval_reproduces_the_end_of_training_numbers_exactly(
    tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  trained = train.run(tiny_config(steps=4, checkpoint_every=4,
                                  eval_at_end=True, eval_episodes=8), workdir)
  os.remove(os.path.join(workdir, "eval.json"))
  result = subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.eval_main", f"--workdir={workdir}"],
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  again = json.loads(result.stdout)
  assert again == json.loads(json.dumps(trained["eval"]))  # Bit for bit.
  with open(os.path.join(workdir, "eval.json")) as f:
    assert json.load(f) == again
  for name in ("model", "other_identity_style", "mean_train_photo"):
    assert set(again[name]) == {"l1", "psnr", "ssim"}
  assert again["step"] == 4 and again["episodes"] >= 8
