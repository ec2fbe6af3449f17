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


def test_a_signal_ends_an_evaluation_at_its_next_batch_never_inside_one():
  """The handler only records the signal: code running when it comes (in a
  trainer, TensorFlow's own Python, e.g. a tf.data iterator being made)
  finishes; the evaluation ends at its next batch boundary, and `check()`
  then saves and stops."""
  batches_done = []

  def evaluation():
    for batch in range(1000):
      stop.end_evaluation_if_signalled()  # What the loop's sampler calls.
      if batch == 2:
        signal.raise_signal(signal.SIGTERM)  # Mid-batch: the handler runs.
        batches_done.append("after the signal, in the same batch")
      batches_done.append(batch)
    return "finished"

  with pytest.raises(preemption.Preempted, match="checkpoint saved at step 5"):
    with preemption.Preemption(lambda: 5, 60) as stop:
      assert stop.interruptible(evaluation) is None
      assert batches_done == [0, 1, "after the signal, in the same batch", 2]
      # Outside an evaluation, the check is a no-op; a signal already
      # received skips the next evaluation altogether.
      stop.end_evaluation_if_signalled()
      assert stop.interruptible(evaluation) is None
      assert len(batches_done) == 4
      stop.check()


def test_an_evaluation_that_finishes_before_its_next_batch_keeps_its_results():
  with pytest.raises(preemption.Preempted):
    with preemption.Preemption(lambda: 5, 60) as stop:
      def evaluation():
        stop.end_evaluation_if_signalled()
        signal.raise_signal(signal.SIGTERM)  # After the last batch.
        return {"psnr": 20.0}
      assert stop.interruptible(evaluation) == {"psnr": 20.0}
      stop.check()
