"""s2f-train as clusters and disks treat it: kill -9, SIGTERM, a damaged
checkpoint, a disk that fills up, two trainers on one workdir.

Each case runs the real command in a subprocess on the smoke preset (with
fewer layers, see SMALLER); the README's reliability table lists the same
cases.
"""

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import tasks
from s2f_tf import workdir_lock
from s2f_tf.cli import common

# Trainers in subprocesses: `make test-fast` skips them.
pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 30  # Checkpoints every 5 steps, the newest 3 kept.
# Fewer layers than the smoke preset and no EMA copy of the generator: a
# start's model build and step tracing are most of each case's cost, no case
# depends on the model's size, and none reads the EMA weights (the tools'
# restore falls back to the raw generator). The smallest checkpoint is still
# far above anything else a trainer writes before it, which the full-disk
# case relies on.
SMALLER = ("--n_downsample=1", "--num_d=1", "--d_layers=1", "--ema_beta=0")
# No sample grids unless a case waits for one (it passes GRIDS): no
# assertion reads them, and drawing them traces the sampler in every start.
GRIDS = "--image_every=5"


def _args(workdir, data_root, *extra):
  return [sys.executable, "-m", "s2f_tf.cli.train_main",
          f"--flagfile={REPO}/flags/smoke.cfg", *SMALLER,
          f"--workdir={workdir}", f"--data_root={data_root}",
          f"--steps={STEPS}", "--checkpoint_every=5",
          "--image_every=1000000", "--noeval_at_end", *extra]


def _train(workdir, data_root, *extra, **kwargs):
  return subprocess.run(_args(workdir, data_root, *extra), cwd=REPO,
                        capture_output=True, text=True, timeout=300,
                        **kwargs)


def _start(workdir, data_root, *extra):
  return subprocess.Popen(_args(workdir, data_root, *extra), cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def _wait_for(path, proc, timeout=180):
  deadline = time.time() + timeout
  while not os.path.exists(path):
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    assert time.time() < deadline, f"{path} never appeared"
    time.sleep(0.2)


def _results(stdout):
  return json.loads(stdout[stdout.index("{\n"):])  # After the progress bar.


def _latest_step(workdir):
  latest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  return None if latest is None else int(latest.rsplit("-", 1)[1])


def _limit_file_size(size):
  # A real OS write error without root: past `size` bytes a write fails
  # with EFBIG (Python ignores SIGXFSZ), as it fails with ENOSPC on a full
  # disk.
  return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_sigkill_resume_then_a_damaged_or_unwritable_checkpoint(
    tiny_data_root, tmp_path):
  """One killed-and-resumed run, then two copies of it damaged two ways.

  One test rather than three on a module fixture: pytest-xdist hands tests
  to workers one by one, and each worker that got one of them trained the
  run (three trainer starts) again.

  - SIGKILL at two random moments, then the same command runs to the end:
    the newest checkpoint is the last step, the killed run's lock was taken
    over and the finished run released it.
  - The newest checkpoint truncated (a crash or a full disk during a copy):
    the tools restore the next older one; s2f-train warns once naming it,
    resumes from the older one and finishes. With every checkpoint
    unreadable it stops in one line pointing to --restore_from.
  - A checkpoint write that fails (a file size limit, as a full disk): one
    line naming the checkpoint, the OS error and the last good checkpoint;
    nothing of the failed one is left for a resume to pick.
  """
  workdir = str(tmp_path / "killed")
  rng = random.Random(17)
  stderrs = []
  for _ in range(2):
    proc = _start(workdir, tiny_data_root)
    _wait_for(os.path.join(workdir, "train"), proc)  # The loop has begun.
    time.sleep(rng.uniform(0.0, 2.0))
    proc.kill()
    stderrs.append(proc.communicate()[1])
  final = _train(workdir, tiny_data_root)
  assert final.returncode == 0, final.stderr[-2000:]
  stderrs.append(final.stderr)
  assert _results(final.stdout)["step"] == STEPS
  assert _latest_step(workdir) == STEPS
  _, _, step = tasks.restore(workdir)
  assert step == STEPS
  # kill -9 left the lock behind; the next start took it over.
  assert any("Taking over" in stderr for stderr in stderrs[1:])
  assert not os.path.exists(workdir_lock.lock_path(workdir))  # Released.

  _check_damaged_newest_is_skipped(workdir, tiny_data_root,
                                   str(tmp_path / "damaged"))
  _check_failed_write_keeps_the_last_good(workdir, tiny_data_root,
                                          str(tmp_path / "full"))


def _check_damaged_newest_is_skipped(finished, data_root, workdir):
  shutil.copytree(finished, workdir)
  newest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  with open(newest + ".data-00000-of-00001", "r+b") as f:
    f.truncate(100)  # A crash or a full disk during a copy.
  _, _, step = tasks.restore(workdir)  # As s2f-eval/export/project/sample.
  assert step == STEPS - 5
  more = _train(workdir, data_root, f"--steps={STEPS + 5}")
  assert more.returncode == 0, more.stderr[-2000:]
  warnings = [line for line in more.stderr.splitlines()
              if "is unreadable" in line]
  assert len(warnings) == 1 and newest in warnings[0], more.stderr[-2000:]
  assert _results(more.stdout)["step"] == STEPS + 5
  assert "Traceback" not in more.stderr

  for path in checkpointing.saved_checkpoints(
      checkpointing.checkpoint_dir(workdir)):
    with open(path + ".data-00000-of-00001", "r+b") as f:
      f.truncate(100)
  none_left = _train(workdir, data_root, f"--steps={STEPS + 10}")
  assert none_left.returncode == common.BAD_INPUT
  last = none_left.stderr.strip().splitlines()[-1]
  assert "no readable checkpoint in" in last and "--restore_from" in last
  assert "Traceback" not in none_left.stderr


def _check_failed_write_keeps_the_last_good(finished, data_root, workdir):
  shutil.copytree(finished, workdir)
  good = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir))
  size = os.path.getsize(good + ".data-00000-of-00001")
  full = _train(workdir, data_root, f"--steps={STEPS + 5}",
                preexec_fn=_limit_file_size(size // 2))
  assert full.returncode == common.IO_FAILED, full.stderr[-2000:]
  assert "Traceback" not in full.stderr
  last = full.stderr.strip().splitlines()[-1]
  failed = os.path.join(checkpointing.checkpoint_dir(workdir),
                        f"ckpt-{STEPS + 5}")
  assert last.startswith(f"s2f-train stopped on I/O: cannot write {failed}: "
                         "File too large ("), last
  assert last.endswith(f"the last good checkpoint is {good}"), last
  leftovers = [name for name in os.listdir(os.path.dirname(failed))
               if name.startswith(f"ckpt-{STEPS + 5}")]
  assert not leftovers  # Nothing a resume could pick.
  assert _latest_step(workdir) == STEPS
  _, _, step = tasks.restore(workdir)
  assert step == STEPS


def test_sigterm_saves_at_the_step_it_stopped_and_a_second_trainer_refuses(
    tiny_data_root, tmp_path):
  workdir = str(tmp_path / "run")
  first = _start(workdir, tiny_data_root, "--steps=100000",
                 "--checkpoint_every=100000", GRIDS)
  try:
    _wait_for(os.path.join(workdir, "samples"), first)
    # Paused while the second starts: it holds the lock all the same, and
    # would otherwise train (and draw grids) for nothing all that time.
    first.send_signal(signal.SIGSTOP)
    second = _train(workdir, tiny_data_root)
    assert first.poll() is None, "the first trainer ended too early"
    first.send_signal(signal.SIGCONT)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
  finally:
    first.kill()
  assert second.returncode == common.BUSY, second.stderr[-2000:]
  refusal = second.stderr.strip().splitlines()[-1]
  assert refusal.startswith(f"s2f-train: {workdir} is in use by another "
                            f"s2f-train (pid {first.pid} on "), refusal

  assert first.returncode == common.PREEMPTED, stderr[-2000:]
  assert "Traceback" not in stderr
  stopped_at = _latest_step(workdir)
  assert stopped_at is not None and stopped_at >= 5
  assert (f"s2f-train stopped by SIGTERM; checkpoint saved at step "
          f"{stopped_at}.") in stderr
  assert not os.path.exists(workdir_lock.lock_path(workdir))


@pytest.mark.parametrize("when", ["final", "periodic"])
def test_sigterm_during_an_evaluation_saves_stops_and_frees_the_lock(
    when, tiny_data_root, tmp_path):
  """Issue 28: a SIGTERM 3 s into the final evaluation killed the trainer
  at once (exit 143, no line, train.lock left behind): the evaluation ran
  after the handler was gone. Now an evaluation, at the end or at
  --eval_every, ends at once on the signal; the step is saved, the lock
  freed, and no eval.json is half written."""
  workdir = str(tmp_path / "run")
  extra = ["--eval_episodes=100000", "--steps=10", GRIDS]
  if when == "final":
    extra += ["--eval_at_end"]
    started = os.path.join(workdir, "progress.gif")  # Written just before.
    step = 10
  else:
    extra += ["--eval_every=5"]
    started = os.path.join(workdir, "samples", "step_0000005.png")
    step = 5
  trainer = _start(workdir, tiny_data_root, *extra)
  try:
    _wait_for(started, trainer)
    time.sleep(1.0)  # Into the evaluation: 100,000 episodes take minutes.
    assert trainer.poll() is None, "the trainer ended before the signal"
    trainer.send_signal(signal.SIGTERM)
    _, stderr = trainer.communicate(timeout=60)
  finally:
    trainer.kill()
  assert trainer.returncode == common.PREEMPTED, stderr[-2000:]
  assert "Traceback" not in stderr
  assert "SIGTERM: evaluation abandoned; the same command reruns it." in stderr
  assert stderr.strip().splitlines()[-1] == (
      f"s2f-train stopped by SIGTERM; checkpoint saved at step {step}. Rerun "
      "the same command to resume.")
  assert _latest_step(workdir) == step
  assert not os.path.exists(workdir_lock.lock_path(workdir))
  assert not os.path.exists(os.path.join(workdir, "eval.json"))
