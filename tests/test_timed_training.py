"""tools/timed_training.py: SIGTERM when the time is up, exit 143 expected.

Stand-in children (a few lines of Python, no training) play s2f-train: one
stops on SIGTERM with 143 as s2f-train does, one ends early with an error,
one dies of the signal without saving.
"""

import os
import sys

import pytest

import tool_modules

timed_training = tool_modules.load("timed_training")

# Like s2f-train: up (clock file written), then on SIGTERM records when it
# came and exits 143.
STOPS_ON_SIGTERM = """
import signal, sys, time
def stop(*_):
  open(sys.argv[2], "w").write(repr(time.time()))
  sys.exit(143)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[1], "w").write("up")
time.sleep(60)
"""


def test_stops_the_run_when_its_time_from_the_clock_file_is_up(tmp_path):
  clock, stopped = str(tmp_path / "config.json"), str(tmp_path / "stopped")
  timed_training.run_for([sys.executable, "-c", STOPS_ON_SIGTERM, clock,
                          stopped], 1.0, "stand-in", clock_file=clock)
  with open(stopped) as f:
    ran = float(f.read()) - os.stat(clock).st_mtime
  assert 1.0 <= ran < 1.5


def test_a_run_that_ends_early_is_an_error_with_its_log(tmp_path):
  never = str(tmp_path / "config.json")
  with pytest.raises(RuntimeError, match=(
      r"^stand-in ended before its 30 s \(exit 2\): .*no face set at data")):
    timed_training.run_for(
        [sys.executable, "-c",
         "import sys; sys.stderr.write('no face set at data\\n'); "
         "sys.exit(2)"], 30, "stand-in", clock_file=never)


def test_a_run_killed_by_sigterm_without_saving_is_an_error():
  with pytest.raises(RuntimeError, match=(
      r"^stand-in: exit -15 after SIGTERM, not 143 \(a checkpoint, then a "
      r"clean stop\)")):
    timed_training.run_for([sys.executable, "-c", "import time; "
                            "time.sleep(60)"], 0.5, "stand-in")


def test_train_command_puts_its_step_count_last():
  command = timed_training.train_command("--flagfile=flags/demo.cfg",
                                         "--steps=600")
  assert command[1:3] == ["-m", "s2f_tf.cli.train_main"]
  assert command[-2:] == ["--steps=600", "--steps=10000000"]
