r"""Times s2f-report over 50 runs of the smoke preset: first build and rebuilds.

  python tools/bench_report.py                  # trains 2 smoke runs first
  taskset -c 0,1 python tools/bench_report.py   # the 2-core budget

Two real runs of `flags/smoke.cfg` (few-shot and --task=unconditional --model=dcgan, 20 steps)
are trained once (not timed) and copied into 50 workdirs, each with its own
learning rate and batch size in config.json, so the index has a config diff.
Budget (from the issue): s2f-report over the 50 runs in under 10 s on 2
cores. Each timing is a whole `s2f-report` process, Python start-up included.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

_RUNS = flags.DEFINE_integer("runs", 50, "Run folders in the report.")
_PLOTS = flags.DEFINE_string("plots", "svg", "--plots of s2f-report.")
_TOUCHED = flags.DEFINE_integer("touched", 5, "Runs 'trained further' "
                                "before the last rebuild.")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def _train(workdir, data_root, *extra):
  subprocess.run(
      [os.path.join(BIN, "s2f-train"), f"--flagfile={REPO}/flags/smoke.cfg",
       f"--workdir={workdir}", f"--data_root={data_root}", *extra],
      check=True, capture_output=True)


def _clone(source, workdir, index):
  """A copy of a run with its own g_lr and batch size in config.json."""
  shutil.copytree(source, workdir, ignore=shutil.ignore_patterns(
      "checkpoints"))
  path = os.path.join(workdir, "config.json")
  with open(path) as f:
    config = json.load(f)
  config["train"]["g_lr"] = 1e-4 * (1 + index % 5)
  config["train"]["batch_size"] = 4 * (1 + index % 2)
  with open(path, "w") as f:
    json.dump(config, f)


def _cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def _timed_report(runs_dir, out_dir):
  """(wall s, CPU s of s2f-report and its workers, what it printed).

  The CPU time does not depend on what else runs on the cores: on an idle
  2-core machine the wall time is at least half of it.
  """
  start, cpu = time.perf_counter(), _cpu_seconds()
  result = subprocess.run(
      [os.path.join(BIN, "s2f-report"), f"--runs={runs_dir}",
       f"--out={out_dir}", f"--plots={_PLOTS.value}"],
      check=True, capture_output=True, text=True)
  return (time.perf_counter() - start, _cpu_seconds() - cpu,
          result.stdout.strip())


def main(argv):
  del argv
  tmp = tempfile.mkdtemp(prefix="bench_report_")
  sources = {"few_shot": [], "dcgan": ["--task=unconditional", "--model=dcgan",
                                      "--image_size=32"]}
  for name, extra in sources.items():
    _train(os.path.join(tmp, "sources", name), os.path.join(tmp, "data"),
           *extra)
  runs_dir, out_dir = os.path.join(tmp, "runs"), os.path.join(tmp, "site")
  kinds = list(sources)
  for i in range(_RUNS.value):
    kind = kinds[i % len(kinds)]
    _clone(os.path.join(tmp, "sources", kind), os.path.join(
        runs_dir, f"{kind}_{i:02d}"), i)
  rows = [("first build", *_timed_report(runs_dir, out_dir)),
          ("rebuild, nothing changed", *_timed_report(runs_dir, out_dir))]
  now = time.time()
  for name in sorted(os.listdir(runs_dir))[:_TOUCHED.value]:
    train_dir = os.path.join(runs_dir, name, "train")
    for events in os.listdir(train_dir):
      os.utime(os.path.join(train_dir, events), (now, now))
  rows.append((f"rebuild, {_TOUCHED.value} runs trained further",
               *_timed_report(runs_dir, out_dir)))
  print(f"s2f-report over {_RUNS.value} smoke runs, --plots={_PLOTS.value}, "
        f"{len(os.sched_getaffinity(0))} cores, load average "
        f"{os.getloadavg()[0]:.1f} (other processes share the cores)")
  print(f"{'build':<34} {'wall s':>7} {'CPU s':>7}  s2f-report says")
  for label, seconds, cpu, said in rows:
    print(f"{label:<34} {seconds:7.2f} {cpu:7.2f}  "
          f"{said.replace(out_dir, 'site')}")
  shutil.rmtree(tmp)


if __name__ == "__main__":
  app.run(main)
