r"""Costs of U-GAT-IT (full, light) and CycleGAN: parameters, memory, time.

What a user weighing U-GAT-IT-light against the full model and the CycleGAN
baseline wants to know before renting a GPU: how big each is, how much memory
training takes, how long one training iteration and one translation take.
Each model is its paper preset (flags/ugatit_selfie2anime_256.cfg,
flags/ugatit_light_256.cfg, flags/cyclegan_256.cfg: base width 64, batch 1)
at each --sizes resolution, on the synthetic photo -> anime set at --data_root
(generated on first use):

  python tools/bench_unpaired.py --data_root=data/synth_anime

Each (model, size) runs in a fresh process, so its peak resident memory
(`ru_maxrss`: the models, Adam's two moments, the traced steps and the
activations of one iteration) is its own. Columns: parameters of both
generators and of all four discriminators; the median ms of one training
iteration (the D step, then the G step, both directions) and of one a2b
translation of one image (a compiled call, no file I/O); peak RSS. The
first call of each is tracing and is not timed.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
from s2f_tf import timing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = (("U-GAT-IT", "ugatit_selfie2anime_256"),
           ("U-GAT-IT-light", "ugatit_light_256"),
           ("CycleGAN", "cyclegan_256"))

_DATA_ROOT = flags.DEFINE_string("data_root", "data/synth_anime",
                                 "The synthetic unpaired set (generated on "
                                 "first use).")
_SIZES = flags.DEFINE_list("sizes", ["64", "256"], "Image sizes.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls (median).")
_ONE = flags.DEFINE_string("one", "", "Internal: measure one 'preset:size' "
                           "in this process and print its JSON.")


def _measure_one(preset: str, size: int) -> dict:
  """One preset at one size, in this process."""
  # pylint: disable=g-import-not-at-top
  from s2f_tf.cli import common
  common.quiet_tensorflow()
  import tensorflow as tf
  from s2f_tf import flags as s2f_flags
  from s2f_tf import train
  # pylint: enable=g-import-not-at-top
  values = flags.FlagValues()
  s2f_flags.define_config_flags(values)
  values(["bench", f"--flagfile={REPO}/flags/{preset}.cfg",
          f"--data_root={_DATA_ROOT.value}", "--synthesize",
          f"--image_size={size}", "--precision=float32"])
  config = s2f_flags.config_from_flags(values)
  with tempfile.TemporaryDirectory() as workdir:
    state = train.setup(config, workdir)
    batch = next(iter(state.dataset))
    d_step = state.steps.function("d_step")
    g_step = state.steps.function("g_step")
    step_ms = timing.median_ms(lambda: (d_step(batch), g_step(batch)),
                         _REPEATS.value)
    generator = state.generator
    translate = tf.function(
        lambda x: generator.translate("a2b", x, training=False)["image"],
        autograph=False)
    one = batch["a"][:1]
    latency_ms = timing.median_ms(lambda: translate(one).numpy(),
                                  _REPEATS.value)
    return {"g_params": generator.count_params(),
            "d_params": state.discriminator.count_params(),
            "step_ms": step_ms, "latency_ms": latency_ms,
            "peak_rss_mb": resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def main(argv):
  del argv
  if _ONE.value:
    preset, size = _ONE.value.rsplit(":", 1)
    print(json.dumps(_measure_one(preset, int(size))))
    return
  from s2f_tf import precision as precision_lib  # pylint: disable=g-import-not-at-top
  print(f"{precision_lib.cpu_description()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; batch 1, "
        f"float32, median of {_REPEATS.value}\n")
  print("| model | px | G params (both) | D params (all four) | "
        "D+G iteration (ms) | a2b, 1 image (ms) | peak RSS (MB) |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  for size in _SIZES.value:
    for name, preset in PRESETS:
      result = subprocess.run(
          [sys.executable, os.path.abspath(__file__),
           f"--one={preset}:{size}", f"--data_root={_DATA_ROOT.value}",
           f"--repeats={_REPEATS.value}"],
          cwd=REPO, capture_output=True, text=True, check=False)
      if result.returncode:
        print(f"| {name} | {size} | failed: "
              f"{result.stderr.strip().splitlines()[-1]} |||||", flush=True)
        continue
      r = json.loads(result.stdout.strip().splitlines()[-1])
      print(f"| {name} | {size} | {r['g_params']:,} | {r['d_params']:,} | "
            f"{r['step_ms']:.0f} | {r['latency_ms']:.1f} | "
            f"{r['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
  app.run(main)
