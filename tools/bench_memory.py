"""Process RSS over a long smoke run: the step graph must not grow.

The TF1 ancestor of this project ran out of memory at step 499 because ops
kept being added to the graph. Here the steps are traced once and their
graphs finalized; this benchmark shows resident memory staying flat.

  python tools/bench_memory.py --flagfile=flags/smoke.cfg --steps=1000
"""

import os
import tempfile
import threading
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top
from s2f_tf import train  # pylint: disable=g-import-not-at-top

flags.DEFINE_integer("warmup", 100, "Steps before the baseline RSS is taken.")
s2f_flags.define_config_flags()
FLAGS = flags.FLAGS


def rss_mb() -> float:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 1024.0
  return float("nan")


def main(argv):
  del argv
  config = s2f_flags.config_from_flags()
  samples = []
  with tempfile.TemporaryDirectory() as workdir:
    state = train.setup(config, workdir)
    loop = train.Loop(state)
    done = threading.Event()

    def sample():
      while not done.is_set():
        samples.append((int(state.step.numpy()), rss_mb()))
        time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.time()
    loop.run()
    seconds = time.time() - start
    done.set()
    thread.join()
  base = next(mb for step, mb in samples if step >= FLAGS.warmup)
  end = samples[-1][1]
  peak = max(mb for step, mb in samples if step >= FLAGS.warmup)
  print(f"{'steps':>8} {'RSS after warm-up':>18} {'RSS at end':>11} "
        f"{'peak':>8} {'growth':>8} {'steps/s':>8}")
  print(f"{config.train.steps:>8} {base:>15.1f} MB {end:>8.1f} MB "
        f"{peak:>5.1f} MB {100 * (end - base) / base:>7.2f}% "
        f"{config.train.steps / seconds:>8.1f}")


if __name__ == "__main__":
  app.run(main)
