"""SIGTERM and Ctrl-C: one stop-at-the-next-step mechanism."""

import os
import signal
import time

import pytest

from s2f_tf import preemption


def _previous(signum, frame):
  del signum, frame


def test_sigterm_saves_then_stops_at_the_next_check():
  saved = []
  original = signal.signal(signal.SIGTERM, _previous)
  with pytest.raises(preemption.Preempted) as e:
    with preemption.Preemption(lambda: saved.append(7) or 7, 60) as stop:
      stop.check()  # No signal yet: nothing happens.
      assert not saved
      os.kill(os.getpid(), signal.SIGTERM)
      time.sleep(0.1)  # Python runs the handler between bytecodes.
      # After the first signal the default action is back: a second one
      # ends the process at once.
      assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
      stop.check()
  assert saved == [7]
  assert "stopped by SIGTERM; checkpoint saved at step 7" in str(e.value)
  assert signal.getsignal(signal.SIGTERM) is _previous  # Restored.
  signal.signal(signal.SIGTERM, original)


def test_ctrl_c_is_the_same_mechanism_with_its_own_exit():
  # Python's own handler, or SIG_IGN when a shell started us in the
  # background: either way it must come back.
  before = signal.getsignal(signal.SIGINT)
  with pytest.raises(preemption.Interrupted, match="SIGINT; checkpoint saved"):
    with preemption.Preemption(lambda: 3, 60) as stop:
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.1)
      stop.check()
  assert signal.getsignal(signal.SIGINT) == before


def test_a_hung_save_is_cut_off_after_the_grace_period(monkeypatch):
  kills = []
  monkeypatch.setattr(preemption.os, "kill", lambda *args: kills.append(args))
  with preemption.Preemption(lambda: 0, grace_s=0.2):
    signal.raise_signal(signal.SIGTERM)
    time.sleep(0.5)  # A step or a save that never returns.
  assert kills == [(os.getpid(), signal.SIGTERM)]
