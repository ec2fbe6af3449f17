"""The demo's training time and quality on this machine, as a table row.

Runs `s2f-train --flagfile=flags/demo.cfg` (plus any `--extra` flags) in a
fresh workdir and reports what issue 22 asks of it: seconds from writing
`config.json` to writing `eval.json` (training and the final evaluation; the
face set is generated first, untimed, if missing), the held-out PSNR and SWD
from `eval.json`, and the precision `--precision=auto` chose with its probe
times. The row names the CPU (model and the flags that decide precision),
its cores, the load average before and after, and the date, so a figure is
never read as another machine's.

  python tools/bench_demo.py                       # make demo's training
  python tools/bench_demo.py --extra=--precision=float32
  ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 python tools/bench_demo.py  # no AMX

`ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16` holds oneDNN below AMX on a CPU that
has it: the nearest this machine comes to a Xeon with AVX512_BF16 only. It
is an emulation, and the table says so.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_FLAGFILE = flags.DEFINE_string(
    "flagfile_demo", os.path.join(REPO, "flags", "demo.cfg"),
    "The preset to train.")
_EXTRA = flags.DEFINE_list("extra", [], "More s2f-train flags, e.g. "
                           "--extra=--precision=float32,--steps=800.")
_WORKDIR = flags.DEFINE_string("workdir", "", "Run folder (must not exist); "
                               "empty: a temporary one, removed after.")
_DATA_ROOT = flags.DEFINE_string("data_root", "data/synth_faces",
                                 "The demo's face set (generated if missing).")
_LABEL = flags.DEFINE_string("label", "", "First column of the row; "
                             "empty: the extra flags.")


def _mtime(path: str) -> float:
  return os.stat(path).st_mtime


def _prepare_data() -> None:
  """Generates and caches the face set untimed, as a first `make demo` does
  before its timed runs (the README's figures have the data on disk)."""
  # pylint: disable=g-import-not-at-top
  from s2f_tf import flags as s2f_flags
  from s2f_tf.data import reader
  # pylint: enable=g-import-not-at-top
  fv = flags.FlagValues()
  s2f_flags.define_config_flags(fv)
  fv(["bench_demo", f"--flagfile={_FLAGFILE.value}",
      f"--data_root={_DATA_ROOT.value}", "--precision=float32",
      *_EXTRA.value])
  reader.load_splits(s2f_flags.config_from_flags(fv).data)


def main(argv) -> int:
  del argv
  from s2f_tf import precision as precision_lib  # pylint: disable=g-import-not-at-top
  _prepare_data()
  workdir = _WORKDIR.value or tempfile.mkdtemp(prefix="s2f_bench_demo_")
  cmd = [sys.executable, "-m", "s2f_tf.cli.train_main",
         f"--flagfile={_FLAGFILE.value}", f"--data_root={_DATA_ROOT.value}",
         f"--workdir={os.path.join(workdir, 'run')}", *_EXTRA.value]
  load_before = os.getloadavg()[0]
  start = time.time()
  out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                       check=False)
  whole = time.time() - start
  run = os.path.join(workdir, "run")
  if out.returncode != 0:
    print(out.stderr[-3000:], file=sys.stderr)
    print(f"s2f-train failed (exit {out.returncode}); see above",
          file=sys.stderr)
    return 1
  seconds = _mtime(os.path.join(run, "eval.json")) - _mtime(
      os.path.join(run, "config.json"))
  with open(os.path.join(run, "eval.json")) as f:
    results = json.load(f)
  with open(os.path.join(run, "config.json")) as f:
    train = json.load(f)["train"]
  isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "")
  cpu = precision_lib.cpu_description() + (
      f", oneDNN held to {isa} (emulation)" if isa else "")
  print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{cpu}; {len(os.sched_getaffinity(0))} cores; load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
  if train.get("precision_auto"):
    print(train["precision_auto"])
  print()
  print("| run | steps | precision | config.json -> eval.json | whole command "
        "| model PSNR | vs other person | vs mean photo | SWD x1e3 |")
  print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
  label = _LABEL.value or (" ".join(_EXTRA.value) or "demo.cfg")
  print(f"| {label} | {train['steps']} | {train['precision']} | "
        f"{seconds:.1f} s | {whole:.1f} s | "
        f"{results['model']['psnr']:.2f} dB | "
        f"{results['psnr_gain_db_vs_other_identity_style']:+.2f} dB | "
        f"{results['psnr_gain_db_vs_mean_train_photo']:+.2f} dB | "
        f"{results['swd']['x1e3_avg']:.1f} |")
  if not _WORKDIR.value:
    shutil.rmtree(workdir, ignore_errors=True)
  return 0


if __name__ == "__main__":
  app.run(main)
