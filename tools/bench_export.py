r"""CPU latency of the exported generator against the in-process Keras model.

  python tools/bench_export.py --flagfile=flags/demo.cfg
  taskset -c 0,1 python tools/bench_export.py --flagfile=flags/demo.cfg

Model sizes come from the config flags (the demo preset above); the image
size from --sizes, so one preset is timed at several resolutions. Weights
are random: latency does not depend on their values. Each cell is the median
of --repeats calls after --warmup calls, in milliseconds per call, the four
callables taking turns:

  Keras eager        generator({"sketch", "refs"}), as eval and tests call it
  Keras tf.function  the same call traced once, in process
  SavedModel float   the reloaded `serving_float` signature
  SavedModel uint8   the reloaded `serving_default` (adds the uint8
                     conversions and the in-graph shape checks)

It also reports how long `export.export` takes, verification included.
"""

import dataclasses
import statistics
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

from s2f_tf.cli import common

common.quiet_tensorflow()

# pylint: disable=g-import-not-at-top
import tensorflow as tf

from s2f_tf import export
from s2f_tf import flags as s2f_flags
from s2f_tf import tasks
# pylint: enable=g-import-not-at-top

s2f_flags.define_config_flags()
_SIZES = flags.DEFINE_list("sizes", ["64", "128"], "Image sizes to time.")
_BATCHES = flags.DEFINE_list("batches", ["1", "16"], "Batch sizes to time.")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls per cell.")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed calls per cell first.")


def _median_ms(calls):
  """name -> median ms per call, the calls taking turns.

  Taking turns spreads any background load evenly over the columns, so the
  columns compare fairly even on a busy machine.
  """
  for fn in calls.values():
    for _ in range(_WARMUP.value):
      fn()
  times = {name: [] for name in calls}
  for _ in range(_REPEATS.value):
    for name, fn in calls.items():
      start = time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - start)
  return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def _callables(generator, signatures, batch_size, k_refs):
  """name -> a no-argument call returning numpy (so the work is finished)."""
  size = generator.image_size
  rng = np.random.default_rng(0)
  sketch = rng.integers(0, 256, (batch_size, size, size, 1), np.uint8)
  refs = rng.integers(0, 256, (batch_size, k_refs, size, size, 3), np.uint8)
  unit = lambda x: tf.constant(x.astype(np.float32) / 127.5 - 1.0)
  inputs = {"sketch": unit(sketch), "refs": unit(refs)}
  traced = tf.function(generator)
  uint8 = {"sketch": tf.constant(sketch), "refs": tf.constant(refs)}
  return {
      "Keras eager": lambda: generator(inputs).numpy(),
      "Keras tf.function": lambda: traced(inputs).numpy(),
      "SavedModel float": lambda: signatures["serving_float"](
          **inputs)["image"].numpy(),
      "SavedModel uint8": lambda: signatures["serving_default"](
          **uint8)["image"].numpy(),
  }


def _main(argv):
  del argv
  config = s2f_flags.config_from_flags()
  k_refs = config.data.k_refs
  rows, exports = [], []
  for size in map(int, _SIZES.value):
    sized = dataclasses.replace(
        config, data=dataclasses.replace(config.data, image_size=size))
    task = tasks.make_task(sized)
    generator = task.build_generator()
    with tempfile.TemporaryDirectory() as scratch:
      start = time.perf_counter()
      path = export.export(task, generator, scratch)
      exports.append((size, time.perf_counter() - start))
      signatures = tf.saved_model.load(path).signatures
      for batch_size in map(int, _BATCHES.value):
        rows.append((size, batch_size, _median_ms(
            _callables(generator, signatures, batch_size, k_refs))))
  names = list(rows[0][2])
  print(f"\nK = {k_refs} references; median ms per call of {_REPEATS.value}; "
        f"TF {tf.__version__}, CPU\n")
  print("| px | batch | " + " | ".join(names) + " |")
  print("|---:|---:|" + "---:|" * len(names))
  for size, batch_size, cells in rows:
    print(f"| {size} | {batch_size} | " +
          " | ".join(f"{cells[n]:.1f}" for n in names) + " |")
  print("\n" + "; ".join(f"export + verify at {size} px: {seconds:.1f} s"
                         for size, seconds in exports))


if __name__ == "__main__":
  app.run(_main)
