"""s2f-train end to end as a user runs it: dry run, bad flags, a blow-up."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

import test_reliability

from s2f_tf import checkpointing
from s2f_tf import tasks
from s2f_tf.serve import launch

# For the starts that train: test_reliability's smaller model without an EMA
# copy. What the training test checks (exit codes, messages, which
# checkpoint is kept, finite weights) depends on neither.
SMALLER = test_reliability.SMALLER
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(*args, timeout=300):
  return subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.train_main",
       f"--flagfile={REPO}/flags/smoke.cfg", *args],
      capture_output=True, text=True, timeout=timeout, cwd=REPO)


def _quick_commands(folder):
  """name -> (argv, its test's folder) of each command that ends on its
  flags, before building anything."""
  smoke = f"--flagfile={REPO}/flags/smoke.cfg"
  argvs = {
      "dry_run": [smoke, "--workdir={}/run", "--dry_run", "--steps=7"],
      # Not the smoke preset: its sizes are sketch2face flags, which another
      # task refuses.
      "task_alone": ["--task=label2face", "--workdir={}/run", "--dry_run"],
      "task_with_smoke": [smoke, "--workdir={}/run", "--dry_run",
                          "--task=label2face"],
      "bad_flag": [smoke, "--workdir={}", "--image_size=18"],
      "augment_policy": [smoke, "--workdir={}/run", "--dry_run",
                         "--augment=diffaug", "--augment_policy=color,flip"],
      "ada_target": [smoke, "--workdir={}/run", "--dry_run", "--augment=ada",
                     "--ada_target=1.5"],
      "fid": [smoke, "--workdir={}/run", "--metrics=swd,fid",
              "--inception={}/nonexistent.pb"],
  }
  commands = {}
  for name, argv in argvs.items():
    own = folder / name
    own.mkdir()
    commands[name] = ([arg.format(own) for arg in argv], own)
  return commands


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
  """name -> (result, folder) of the commands in `_quick_commands`.

  Each is a real s2f-train `main()` with its own argv, stdout, stderr and
  exit code, but all run in one process (tests/cli_batch.py): each
  would otherwise spend about 5 s of CPU importing TensorFlow to print one
  line. Shared by the tests from test_dry_run_prints_the_resolved_config to
  test_fid_without_a_readable_inception_stops_before_training; the slow
  tests below and the signal test start processes of their own.
  """
  commands = _quick_commands(tmp_path_factory.mktemp("quick"))
  results_path = tmp_path_factory.mktemp("quick_results") / "results.json"
  batch = subprocess.run(
      [sys.executable, os.path.join(REPO, "tests", "cli_batch.py"),
       str(results_path)],
      input=json.dumps({name: argv for name, (argv, _) in commands.items()}),
      capture_output=True, text=True, timeout=300, cwd=REPO)
  assert batch.returncode == 0, batch.stderr[-2000:]
  with open(results_path) as f:
    results = json.load(f)
  return {name: (subprocess.CompletedProcess(
      commands[name][0], r["returncode"], r["stdout"], r["stderr"]),
                 commands[name][1]) for name, r in results.items()}


def test_dry_run_prints_the_resolved_config(quick):
  result, folder = quick["dry_run"]
  assert result.returncode == 0, result.stderr
  config = json.loads(result.stdout)
  assert config["train"]["steps"] == 7
  assert config["data"]["image_size"] == 16
  assert not os.path.exists(folder / "run")  # Nothing built or written.


def test_task_alone_trains_its_default_model(quick):
  result, _ = quick["task_alone"]
  assert result.returncode == 0, result.stderr
  model = json.loads(result.stdout)["model"]
  assert (model["task"], model["model"]) == ("label2face", "label2face")
  refused, _ = quick["task_with_smoke"]
  assert refused.returncode == 2  # A bad value, as other config errors.
  assert refused.stderr.strip().splitlines()[-1] == (
      "s2f-train: --n_res is a flag of --task=sketch2face or "
      "--task=unpaired; "
      "--task=label2face does not read it: drop it")


def test_bad_flag_is_one_line_without_traceback(quick):
  result, _ = quick["bad_flag"]
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
  command = subprocess.Popen(launch.with_default_sigint(["-c", body]),
                             cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  try:
    assert command.stdout.readline() == "ready\n"
    command.send_signal(signum)
    _, stderr = command.communicate(timeout=30)
  finally:
    command.kill()
  assert command.returncode == code
  assert stderr.strip().splitlines() == [line]


@pytest.mark.parametrize("name, line", [
    ("augment_policy", "s2f-train: --augment_policy="
     "'color,flip' has unknown ['flip']; use a comma-separated subset of "
     "color,translation,cutout"),
    ("ada_target", "s2f-train: --ada_target=1.5 must be in (0, 1): "
     "the share of reals D may call real beyond chance (0.6 in the ADA "
     "paper)"),
])
def test_bad_augment_flag_is_one_line_and_exit_code_2(name, line, quick):
  result, _ = quick[name]
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == line


def test_fid_without_a_readable_inception_stops_before_training(quick):
  """Issue 28: asking for FID with a missing Inception file trained every
  step, then skipped FID with a warning; now the run does not start."""
  result, folder = quick["fid"]
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith(
      f"s2f-train: --inception={folder}/nonexistent.pb: no such file; "
      "the standard file is classify_image_graph_def.pb")
  assert not os.path.exists(folder / "run")  # Nothing trained or written.


@pytest.mark.slow
def test_ctrl_c_saves_and_a_blown_up_resume_stops_clearly_keeping_it(
    tiny_data_root, tmp_path):
  """Two starts of the same workdir (each start of s2f-train is a TF import,
  a model build and the tracing of its steps, most of this test's cost):

  - Ctrl-C mid-run exits 130 saying a checkpoint was saved; that checkpoint
    is at the step it stopped (5 or later) and restores at that step;
    flags.cfg holds the command's flags;
  - the same workdir resumed with a learning rate of 1e3 exits 3 with one
    "stopped: Non-finite values" message and no traceback, and writes no
    checkpoint of the bad state: the interrupted one is still the newest
    and its generator is finite.
  """
  workdir = tmp_path / "run"
  args = launch.with_default_sigint([
      "-m", "s2f_tf.cli.train_main",
      f"--flagfile={REPO}/flags/smoke.cfg", *SMALLER, f"--workdir={workdir}",
      f"--data_root={tiny_data_root}", "--steps=100000",
      "--checkpoint_every=100000", "--image_every=5", "--noeval_at_end"])
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
  with open(workdir / "flags.cfg") as f:
    assert "--steps=100000" in f.read()
  latest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(
      str(workdir)))
  assert latest is not None
  interrupted_at = int(latest.rsplit("-", 1)[1])
  assert interrupted_at >= 5
  _, _, step = tasks.restore(str(workdir))
  assert step == interrupted_at

  end = interrupted_at + 40  # 40 steps to blow up, as from a fresh run.
  blown = _train(*SMALLER, f"--workdir={workdir}",
                 f"--data_root={tiny_data_root}",
                 f"--steps={end}", "--g_lr=1e3", "--d_lr=1e3",
                 f"--checkpoint_every={end}", "--noeval_at_end")
  assert blown.returncode == 3, blown.stderr[-2000:]
  assert "s2f-train stopped: Non-finite values" in blown.stderr
  assert "Traceback" not in blown.stderr
  assert tf.train.latest_checkpoint(checkpointing.checkpoint_dir(
      str(workdir))) == latest
  _, generator, step = tasks.restore(str(workdir))
  assert step == interrupted_at
  assert all(tf.reduce_all(tf.math.is_finite(v)) for v in generator.variables)
