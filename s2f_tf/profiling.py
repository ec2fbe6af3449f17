"""`--profile_steps=A,B`: a TensorBoard profiler trace of a few steps.

The trace (TensorBoard's Profile tab, or `tools/profile_ops.py` for a table
of the top ops) lands in `workdir/train/plugins/profile/<run>/`. Steps are
counted from 1 as the loop logs them; each is marked as a profiler step so
the trace viewer and the overview page split time by step.
"""

import contextlib
import os

from absl import logging
import tensorflow as tf

from s2f_tf import config as config_lib


class StepProfiler:
  """Starts the profiler before step A and stops it after step B."""

  def __init__(self, profile_steps: str, logdir: str):
    self.range = (config_lib.parse_profile_steps(profile_steps)
                  if profile_steps else None)
    self.logdir = logdir
    self.active = False

  @contextlib.contextmanager
  def step(self, number: int):
    """Wraps the loop's step `number`; traced if it lies in A..B."""
    if self.range is None or not self.range[0] <= number <= self.range[1]:
      yield
      return
    if not self.active:
      tf.profiler.experimental.start(self.logdir)
      self.active = True
    try:
      with tf.profiler.experimental.Trace("train", step_num=number, _r=1):
        yield
    except BaseException:
      self._stop()  # Never leave the profiler collecting after a failure.
      raise
    if number == self.range[1]:
      self._stop()

  def _stop(self):
    if self.active:
      tf.profiler.experimental.stop()
      self.active = False
      logging.info("Profiler trace written under %s.",
                   os.path.join(self.logdir, "plugins", "profile"))
