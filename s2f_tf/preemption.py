"""Stopping on SIGTERM or Ctrl-C: a checkpoint at the next step, then exit.

Kubernetes, Slurm and spot/preemptible VMs stop a job with SIGTERM, then
SIGKILL after a grace period (30 s by default on Kubernetes and Slurm).
Ctrl-C is SIGINT. Both go through one mechanism: the signal only records a
request; the loop calls `Preemption.check()` after every step, which saves a
checkpoint and raises `Preempted` (exit 143, 128 + SIGTERM, as a shell
reports it) or `Interrupted` (exit 130). Waiting for the step boundary keeps
the saved state consistent: a step is never half applied.

An evaluation can take minutes, so it does not wait for a step boundary:
`interruptible(fn)` runs it so that a signal (or one already received) ends
it at its next batch, without its results (eval.json is written atomically,
so none is left half written); the loop then saves and stops as above, and
the same command reruns the evaluation. The evaluation ends itself: the
loop's sampler calls `end_evaluation_if_signalled()` before each batch. The
handler never raises: Python runs it between any two bytecodes of the main
thread, which can be inside TensorFlow's own Python code (an iterator being
made or deleted, a function call's bookkeeping), and an exception there
once left a tf.data iterator's threads running into a segmentation fault.
Under a multi-worker strategy the workers agree on the stop step through
their collective steps, so there the evaluation runs on.

After the first signal the default actions are back, so a second signal
ends the process at once, as does a timer after `grace_s` seconds in case
the step or the save hangs (e.g. a peer is gone); the newest complete
checkpoint then stays the one a resume picks.

Under MultiWorkerMirroredStrategy every worker must save at the same step,
or the collective ops of the save hang. TensorFlow's own
`tf.distribute.experimental.PreemptionCheckpointHandler` agrees on that step
through the coordination service; here it watches our signal flag and saves
with our save function (chief-only files, clean failures), so each worker
stops the same way as a single process does.
"""

import os
import shutil
import signal
import tempfile
import threading
from typing import Callable, Optional, TypeVar

from absl import logging
import tensorflow as tf

SIGNALS = (signal.SIGTERM, signal.SIGINT)
T = TypeVar("T")


class Stopped(Exception):
  """Training stopped on a signal, after saving a checkpoint."""

  def __init__(self, signum: int, step: Optional[int]):
    name = signal.Signals(signum).name
    where = (f"checkpoint saved at step {step}" if step is not None
             else "no checkpoint saved")
    super().__init__(f"stopped by {name}; {where}. Rerun the same command "
                     "to resume.")
    self.step = step


class Preempted(Stopped):
  """SIGTERM: a scheduler or a VM reclaimed the machine."""


class Interrupted(Stopped):
  """SIGINT: Ctrl-C."""


class _EvaluationInterrupted(Exception):
  """Raised between evaluation batches inside `Preemption.interruptible`."""


class Preemption:
  """Context manager: turns SIGTERM and SIGINT into a stop at a step boundary.

  Args:
    save: saves a checkpoint of the current step (on every worker) and
      returns that step.
    grace_s: seconds from the first signal to a hard exit.
    cluster_resolver: the multi-worker strategy's resolver, to align the
      save across workers; None for a single process (one or more GPUs).
  """

  def __init__(self, save: Callable[[], int], grace_s: float,
               cluster_resolver=None):
    self._save = save
    self._grace_s = grace_s
    self._resolver = cluster_resolver
    self._previous = {}
    self._timer = None
    self._handler = None
    self._scratch = None
    self.signum: Optional[int] = None
    self.saved_step: Optional[int] = None
    self._interruptible = False

  def __enter__(self) -> "Preemption":
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._on_signal) for s in SIGNALS}
    if self._resolver is not None:
      self._handler = self._make_handler()
    return self

  def __exit__(self, *unused_exc_info) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    if self._timer is not None:
      self._timer.cancel()
    if self._scratch is not None:
      shutil.rmtree(self._scratch, ignore_errors=True)

  def check(self) -> None:
    """Call after each step: saves and raises `Stopped` if asked to stop."""
    if self._handler is not None:
      self._handler.save_checkpoint_if_preempted()  # Calls _stop if so.
    elif self.signum is not None:
      self._save_and_record()
      self._stop()

  def interruptible(self, fn: Callable[[], T]) -> Optional[T]:
    """fn(), or None if a signal came before it or during it (then `check()`
    saves and stops). fn ends at its next `end_evaluation_if_signalled()`;
    one that finishes first keeps its results. Single process only (module
    docstring)."""
    if self._handler is not None:
      return fn()
    if self.signum is not None:
      return None
    self._interruptible = True
    try:
      return fn()
    except _EvaluationInterrupted:
      logging.warning("%s: evaluation abandoned; the same command reruns "
                      "it.", signal.Signals(self.signum).name)
      return None
    finally:
      self._interruptible = False

  def end_evaluation_if_signalled(self) -> None:
    """Call before each evaluation batch: inside `interruptible`, once a
    signal has come, ends the evaluation (from here, a batch boundary of
    our own code, never from inside TensorFlow's)."""
    if self._interruptible and self.signum is not None:
      self._interruptible = False
      raise _EvaluationInterrupted()

  def _on_signal(self, signum: int, unused_frame) -> None:
    self.signum = signum
    for s in SIGNALS:
      signal.signal(s, signal.SIG_DFL)
    self._timer = threading.Timer(self._grace_s, os.kill,
                                  (os.getpid(), signum))
    self._timer.daemon = True
    self._timer.start()
    logging.warning("%s: saving a checkpoint after this step, then exiting; "
                    "a second signal or %g s exit at once.",
                    signal.Signals(signum).name, self._grace_s)

  def _save_and_record(self) -> None:
    self.saved_step = self._save()

  def _stop(self) -> None:
    # A worker whose peer got the signal stops as if it had got it too.
    signum = self.signum or signal.SIGTERM
    kind = Interrupted if signum == signal.SIGINT else Preempted
    raise kind(signum, self.saved_step)

  def _make_handler(self):
    # The handler restores from, and attaches a counter to, the checkpoint
    # it is given; ours are restored and saved by the loop (which skips a
    # damaged one), so it gets an empty checkpoint in an empty folder. Its
    # non-chief workers keep theirs beside that folder: both go at exit.
    self._scratch = tempfile.mkdtemp(prefix="s2f_preemption_")
    return tf.distribute.experimental.PreemptionCheckpointHandler(
        self._resolver, tf.train.Checkpoint(),
        checkpoint_dir=os.path.join(self._scratch, "chief"),
        termination_config=tf.distribute.experimental.TerminationConfig(
            termination_watcher_fn=lambda: self.signum is not None,
            exit_fn=self._stop, save_fn=self._save_and_record,
            grace_period=0))
