"""`s2f-train` for a fixed wall time, then SIGTERM: the equal-time tools' run.

compare_unconditional, compare_unpaired and compare_label2face give each
model the same seconds. When they are up its s2f-train gets SIGTERM, saves a
checkpoint at the next step and exits 143 (128 + SIGTERM, see
s2f_tf/preemption.py), so the checkpoint holds what that time trained. A
run that ends before its time, or exits otherwise after the signal, is an
error that names the run and ends with the last lines of its log.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = (sys.executable, "-m", "s2f_tf.cli.train_main")
EXIT_ON_SIGTERM = 143
# More steps than any timed run reaches: the signal, not --steps, ends it.
UNTIL_STOPPED = "--steps=10000000"
_LOG_TAIL = 800  # Characters of the child's stderr an error quotes.
_STOP_TIMEOUT = 600  # Seconds from SIGTERM to exit: the step, then a save.


def train_command(*args: str) -> list:
  """s2f-train with `args`, its --steps last so that it wins over a preset."""
  return [*TRAIN, *args, UNTIL_STOPPED]


def _tail(log) -> str:
  log.seek(0)
  return log.read()[-_LOG_TAIL:]


def _ended_early(name: str, process, seconds: float, log) -> RuntimeError:
  return RuntimeError(f"{name} ended before its {seconds:g} s (exit "
                      f"{process.returncode}): {_tail(log)}")


def run_for(command: Sequence[str], seconds: float, name: str,
            clock_file: Optional[str] = None, cwd: str = REPO) -> None:
  """Runs `command` for `seconds` of wall time, then stops it with SIGTERM.

  Args:
    command: the process, e.g. `train_command(...)`.
    seconds: how long it runs, from its start, or from the modification
      time of `clock_file` once that exists.
    name: the run, as errors name it.
    clock_file: e.g. the run's config.json, written after start-up, to
      leave start-up out of the time; None: the clock starts with the
      process.
    cwd: where it runs (default: the repository).

  Raises:
    RuntimeError: the process ended before its time, or did not exit 143
      after SIGTERM.
  """
  # stderr goes to a file, not a pipe: a pipe nobody reads while the child
  # runs fills up after ~64 KB of log and stalls the child.
  with tempfile.TemporaryFile("w+") as log:
    process = subprocess.Popen(list(command), cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=log,
                               text=True)
    try:
      start = time.time()
      if clock_file is not None:
        while not os.path.exists(clock_file):
          if process.poll() is not None:
            raise _ended_early(name, process, seconds, log)
          time.sleep(0.2)
        start = os.stat(clock_file).st_mtime
      try:
        process.wait(timeout=max(0.0, start + seconds - time.time()))
        raise _ended_early(name, process, seconds, log)
      except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
      try:
        process.wait(timeout=_STOP_TIMEOUT)
      except subprocess.TimeoutExpired:
        pass  # Killed below; its exit code then says so.
    finally:
      if process.poll() is None:  # An error above, or no exit in time.
        process.kill()
        process.wait()
    if process.returncode != EXIT_ON_SIGTERM:
      raise RuntimeError(f"{name}: exit {process.returncode} after SIGTERM, "
                         f"not {EXIT_ON_SIGTERM} (a checkpoint, then a clean "
                         f"stop): {_tail(log)}")


def evaluate(workdir: str, *flags: str, cwd: str = REPO) -> dict:
  """`s2f-eval --workdir=workdir *flags`'s results (its JSON on stdout).

  Raises:
    RuntimeError: s2f-eval failed; names the run, ends with its log's end.
  """
  result = subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.eval_main", f"--workdir={workdir}",
       *flags], cwd=cwd, capture_output=True, text=True)
  if result.returncode:
    raise RuntimeError(f"s2f-eval --workdir={workdir}: exit "
                       f"{result.returncode}: {result.stderr[-_LOG_TAIL:]}")
  return json.loads(result.stdout)
