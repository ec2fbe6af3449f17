"""s2f-train end to end as a user runs it: dry run, bad flags, a blow-up."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import tasks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(*args, timeout=300):
  return subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.train_main",
       f"--flagfile={REPO}/flags/smoke.cfg", *args],
      capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_dry_run_prints_the_resolved_config(tmp_path):
  result = _train(f"--workdir={tmp_path}/run", "--dry_run", "--steps=7")
  assert result.returncode == 0, result.stderr
  config = json.loads(result.stdout)
  assert config["train"]["steps"] == 7
  assert config["data"]["image_size"] == 16
  assert not os.path.exists(tmp_path / "run")  # Nothing built or written.


def test_task_alone_trains_its_default_model(tmp_path):
  # Not the smoke preset: its sizes are sketch2face flags, which another
  # task refuses.
  result = subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.train_main", "--task=label2face",
       f"--workdir={tmp_path}/run", "--dry_run"],
      capture_output=True, text=True, timeout=120, cwd=REPO)
  assert result.returncode == 0, result.stderr
  model = json.loads(result.stdout)["model"]
  assert (model["task"], model["model"]) == ("label2face", "label2face")
  refused = _train(f"--workdir={tmp_path}/run", "--dry_run",
                   "--task=label2face")
  assert refused.returncode == 2  # A bad value, as other config errors.
  assert refused.stderr.strip().splitlines()[-1] == (
      "s2f-train: --n_res is a flag of --task=sketch2face or "
      "--task=unpaired; "
      "--task=label2face does not read it: drop it")


def test_bad_flag_is_one_line_without_traceback(tmp_path):
  result = _train(f"--workdir={tmp_path}", "--image_size=18")
  assert result.returncode != 0
  assert "not divisible by 2**n_downsample=4" in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum,code,line", [
    (signal.SIGTERM, 143, "s2f-x stopped by SIGTERM; rerun the same command"),
    (signal.SIGINT, 130, "s2f-x stopped by Ctrl-C; rerun the same command"),
])
def test_a_signal_ends_any_command_in_one_line(signum, code, line):
  """Issue 28: s2f-eval or s2f-project killed by SIGTERM mid-way died
  without a word (and Ctrl-C printed a traceback); every command now ends
  with one line and the shell's code."""
  body = ("import sys, time\n"
          "from s2f_tf.cli import common\n"
          "def body():\n"
          "  print('ready', flush=True)\n"
          "  time.sleep(60)\n"
          "common.main('s2f-x', body)\n")
  command = subprocess.Popen([sys.executable, "-c", body], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
  try:
    assert command.stdout.readline() == "ready\n"
    command.send_signal(signum)
    _, stderr = command.communicate(timeout=30)
  finally:
    command.kill()
  assert command.returncode == code
  assert stderr.strip().splitlines() == [line]


@pytest.mark.parametrize("flag, line", [
    ("--augment_policy=color,flip", "s2f-train: --augment_policy="
     "'color,flip' has unknown ['flip']; use a comma-separated subset of "
     "color,translation,cutout"),
    ("--ada_target=1.5", "s2f-train: --ada_target=1.5 must be in (0, 1): "
     "the share of reals D may call real beyond chance (0.6 in the ADA "
     "paper)"),
])
def test_bad_augment_flag_is_one_line_and_exit_code_2(flag, line, tmp_path):
  augment = "diffaug" if "policy" in flag else "ada"
  result = _train(f"--workdir={tmp_path}/run", "--dry_run",
                  f"--augment={augment}", flag)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == line


def test_fid_without_a_readable_inception_stops_before_training(tmp_path):
  """Issue 28: asking for FID with a missing Inception file trained every
  step, then skipped FID with a warning; now the run does not start."""
  result = _train(f"--workdir={tmp_path}/run", "--metrics=swd,fid",
                  f"--inception={tmp_path}/nonexistent.pb")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith(
      f"s2f-train: --inception={tmp_path}/nonexistent.pb: no such file; "
      "the standard file is classify_image_graph_def.pb")
  assert not os.path.exists(tmp_path / "run")  # Nothing trained or written.


@pytest.mark.slow
def test_blown_up_learning_rate_stops_clearly_and_keeps_checkpoint(
    tiny_data_root, tmp_path):
  workdir = str(tmp_path / "run")
  data = f"--data_root={tiny_data_root}"
  first = _train(f"--workdir={workdir}", data, "--steps=2",
                 "--checkpoint_every=2", "--image_every=2", "--noeval_at_end")
  assert first.returncode == 0, first.stderr[-2000:]
  with open(os.path.join(workdir, "flags.cfg")) as f:
    assert "--steps=2" in f.read()
  blown = _train(f"--workdir={workdir}", data, "--steps=40", "--g_lr=1e3",
                 "--d_lr=1e3", "--checkpoint_every=40", "--noeval_at_end")
  assert blown.returncode == 3
  assert "s2f-train stopped: Non-finite values" in blown.stderr
  assert "Traceback" not in blown.stderr
  latest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  assert latest.endswith("ckpt-2")
  _, generator, step = tasks.restore(workdir)
  assert step == 2
  assert all(tf.reduce_all(tf.math.is_finite(v)) for v in generator.variables)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_the_same_command_resumes(
    tiny_data_root, tmp_path):
  workdir = tmp_path / "run"
  args = [sys.executable, "-m", "s2f_tf.cli.train_main",
          f"--flagfile={REPO}/flags/smoke.cfg", f"--workdir={workdir}",
          f"--data_root={tiny_data_root}", "--steps=100000",
          "--checkpoint_every=100000", "--image_every=5", "--noeval_at_end"]
  proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 120
    while not (workdir / "samples").is_dir() and time.time() < deadline:
      time.sleep(0.5)
    assert (workdir / "samples").is_dir(), "training never started"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
  finally:
    proc.kill()
  assert proc.returncode == 130, stderr[-2000:]
  assert "checkpoint saved" in stderr
  latest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(
      str(workdir)))
  assert latest is not None
  interrupted_at = int(latest.rsplit("-", 1)[1])
  assert interrupted_at >= 5
  _, _, step = tasks.restore(str(workdir))
  assert step == interrupted_at
