"""Milliseconds and achieved GFLOP/s of the training steps, per preset.

For each preset, precision and XLA setting this builds the run exactly as
`s2f-train` does (`train.setup`) and times its compiled steps on batches
already in memory (the input pipeline is not timed): a D step, a D step with
R1 (forced on for the timing when the preset has none), and a G step; with
`--shared=true` also the one step of `--shared_generator_pass` (D and G
updates on one generator forward pass; it has no R1 phase). Each
number is the median of `--steps` calls after `--warmup`; all variants run
in every one of `--rounds` interleaved rounds, so they share the machine's
conditions. GFLOPs are counted from each step's traced graph (forward and
backward) by TensorFlow's own profiler; the machine's peak comes from a large
matmul measured in the same run, per dtype.

  python tools/bench_step.py --presets=smoke,demo,celebamask_128 \
      --precisions=float32,mixed_bfloat16 --jit=false,true --shared=false,true

Presets without data on disk (celebamask_*) train on the synthetic set at
`--data_root` (generated on first use), at their own resolution.
"""

import dataclasses
import logging
import os
import statistics
import tempfile
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import flags as s2f_flags
from s2f_tf import precision as precision_lib
from s2f_tf import steps as steps_lib
from s2f_tf import train
# pylint: enable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHASES = (("d", "D"), ("d_reg", "D+R1"), ("g", "G"))

flags.DEFINE_list("presets", ["smoke", "demo"], "flags/<name>.cfg to time.")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"],
                  "Precisions to time each preset in.")
flags.DEFINE_list("jit", ["false"], "XLA settings to time: false, true.")
flags.DEFINE_list("shared", ["false"], "--shared_generator_pass settings to "
                  "time: false, true.")
flags.DEFINE_integer("batch_size", 8, "Global batch; 0: the preset's own.")
flags.DEFINE_integer("steps", 10, "Timed calls per phase and round.")
flags.DEFINE_integer("warmup", 3, "Untimed calls per phase first.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds over every variant.")
flags.DEFINE_string("data_root", "data/synth_faces",
                    "Synthetic set for presets whose data is not on disk.")
flags.DEFINE_integer("peak_size", 4096, "Side of the peak-FLOP/s matmul.")
FLAGS = flags.FLAGS


@dataclasses.dataclass
class Variant:
  """One built run and its timings: phase -> seconds per call."""

  name: str
  precision: str
  steps: dict  # phase -> compiled step function.
  batch: object
  gflops: dict
  seconds: dict = dataclasses.field(default_factory=dict)


def preset_config(preset: str, precision: str, jit: bool, shared: bool
                  ) -> config_lib.Config:
  """The preset's config, with R1 on (unless shared) and data here."""
  fv = flags.FlagValues()
  s2f_flags.define_config_flags(fv)
  fv(["bench", f"--flagfile={os.path.join(REPO, 'flags', preset + '.cfg')}"])
  if not fv["synthesize"].value:
    fv["data_root"].value, fv["synthesize"].value = FLAGS.data_root, True
  config = s2f_flags.config_from_flags(fv)
  train_overrides = {"precision": precision_lib.resolve(precision)}
  if jit:  # Only when asked, so the tool also times code without the flag.
    train_overrides["jit_compile"] = True
  # Both ways, whatever the preset says (flags/demo.cfg shares the pass).
  train_overrides["shared_generator_pass"] = shared
  if not shared and not config.train.r1_gamma:
    train_overrides["r1_gamma"] = 1.0
  if FLAGS.batch_size:
    train_overrides["batch_size"] = FLAGS.batch_size
  return dataclasses.replace(config, train=dataclasses.replace(
      config.train, **train_overrides))


def graph_gflops(function) -> float:
  """Float operations in `function`'s traced graph, in units of 1e9."""
  graph = function.get_concrete_function().graph
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options["output"] = "none"
  return tf.compat.v1.profiler.profile(graph, options=options
                                       ).total_float_ops / 1e9


def build(preset: str, precision: str, jit: bool, shared: bool,
          workdir: str) -> Variant:
  config = preset_config(preset, precision, jit, shared)
  policy = config.train.precision
  with precision_lib.precision_policy(policy):
    state = train.setup(config, workdir)
  s = state.steps
  steps = ({"dg": s.function("shared_step")} if shared else
           {"d": s.function("d_step"), "d_reg": s.function("d_step_reg"),
            "g": s.function("g_step")})
  batch = next(iter(state.dataset))
  for function in steps.values():
    for _ in range(FLAGS.warmup):
      _wait(function(batch))
  name = f"{preset} {config.data.image_size}px K={config.data.k_refs} " \
         f"B={config.train.batch_size}" + (" XLA" if jit else "") + \
         (" shared pass" if shared else "")
  return Variant(name, policy, steps, batch,
                 {phase: graph_gflops(f) for phase, f in steps.items()})


def _wait(result) -> None:
  """Blocks until the step is done (a host sync on its finiteness flags):
  one StepResult, or the shared step's (D, G) pair of them."""
  players = (result,) if isinstance(result, steps_lib.StepResult) else result
  for player in players:
    float(player.all_finite)


def time_round(variant: Variant) -> None:
  for phase, function in variant.steps.items():
    times = variant.seconds.setdefault(phase, [])
    for _ in range(FLAGS.steps):
      start = time.perf_counter()
      _wait(function(variant.batch))
      times.append(time.perf_counter() - start)


def peak_gflops(dtype, size: int) -> float:
  """GFLOP/s of a size^3 matmul in `dtype`: the machine's practical peak."""
  a = tf.random.normal([size, size], dtype=tf.float32)
  a = tf.cast(a, dtype)
  matmul = tf.function(lambda x: tf.reduce_sum(tf.matmul(x, x)))
  float(matmul(a))
  times = []
  for _ in range(5):
    start = time.perf_counter()
    float(matmul(a))
    times.append(time.perf_counter() - start)
  return 2 * size**3 / statistics.median(times) / 1e9


def table(variants, peaks) -> str:
  head = ("| preset | precision | " +
          " | ".join(f"{label} ms" for _, label in PHASES) +
          " | D+G ms | GFLOP " + " / ".join(l for _, l in PHASES) +
          " | GFLOP/s (D+G) | % of peak |")
  rows = [head, "| --- | --- |" + " ---: |" * 7]
  for v in variants:
    ms = {p: 1e3 * statistics.median(times) for p, times in v.seconds.items()}
    if "dg" in ms:  # The shared pass: one step, D and G together.
      step_ms, flops = ms["dg"], v.gflops["dg"]
      phase_ms = " | ".join("-" for _ in PHASES)
      phase_flops = f"D+G {flops:.2f}"
    else:
      step_ms, flops = ms["d"] + ms["g"], v.gflops["d"] + v.gflops["g"]
      phase_ms = " | ".join(f"{ms[p]:.1f}" for p, _ in PHASES)
      phase_flops = " / ".join(f"{v.gflops[p]:.2f}" for p, _ in PHASES)
    rate = flops / step_ms * 1e3
    peak = peaks["bfloat16" if "bfloat16" in v.precision else "float32"]
    rows.append(f"| {v.name} | {v.precision} | {phase_ms} | {step_ms:.1f} | "
                f"{phase_flops} | {rate:.1f} | {100 * rate / peak:.0f}% |")
  return "\n".join(rows)


def _not_a_retrace_warning(record: logging.LogRecord) -> bool:
  """Whether to log `record`: all but TF's "N out of the last M calls to
  <function ...> triggered tf.function retracing" warning.

  TF counts traces per Python function, and every variant's TrainSteps wraps
  the same one, so building several runs on purpose looks like retracing to
  it. The runs' own retrace guard (numerics.GraphGuard) counts each
  tf.function's traces and raises, so this filter leaves it working.
  """
  return "triggered tf.function retracing" not in record.getMessage()


def main(argv):
  del argv
  # Only here, never in library code: a real run that retraces must say so.
  tf.get_logger().addFilter(_not_a_retrace_warning)
  variants = []
  with tempfile.TemporaryDirectory() as root:
    for preset in FLAGS.presets:
      for precision in FLAGS.precisions:
        for jit in FLAGS.jit:
          for shared in FLAGS.shared:
            workdir = os.path.join(root, str(len(variants)))
            variants.append(build(preset, precision, jit == "true",
                                  shared == "true", workdir))
    peaks = {}
    for r in range(FLAGS.rounds):
      for dtype in (tf.float32, tf.bfloat16):
        peaks.setdefault(dtype.name, []).append(
            peak_gflops(dtype, FLAGS.peak_size))
      for variant in variants:
        time_round(variant)
      print(f"round {r + 1} of {FLAGS.rounds} done", flush=True)
  peaks = {name: statistics.median(values) for name, values in peaks.items()}
  print(f"\nmedian of {FLAGS.steps} x {FLAGS.rounds} calls per phase after "
        f"{FLAGS.warmup} warm-up; peak matmul {FLAGS.peak_size}^2: "
        f"float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 "
        f"{peaks['bfloat16']:.0f} GFLOP/s; load average "
        f"{os.getloadavg()[0]:.2f}\n")
  print(table(variants, peaks))


if __name__ == "__main__":
  app.run(main)
