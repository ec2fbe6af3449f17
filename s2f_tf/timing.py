"""The steady cost of a call: the median of repeated calls after a warm-up.

The first call of anything compiled pays for tracing (or an interpreter's
first allocations) and is not what a user waits for afterwards, so it runs
untimed; the median keeps one preempted call from moving the figure.
"""

import time
from typing import Callable

import numpy as np


def median_ms(fn: Callable[[], object], repeats: int) -> float:
  """Median milliseconds of `repeats` calls of `fn`, after one untimed."""
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1000.0 * float(np.median(times))
