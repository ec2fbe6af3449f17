"""tools/bench_augment.py end to end on a tiny setting (not its results)."""

import importlib.util
import os
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench(root, out, *args):
  return subprocess.run(
      [sys.executable, os.path.join(REPO, "tools/bench_augment.py"),
       f"--data_root={root}", f"--out={out}", *args],
      capture_output=True, text=True, timeout=600, cwd=REPO)


def _bench_main(*argv):
  """The tool's `main` in this process, its flags parsed from `argv` into
  absl's global FLAGS and reset afterwards: a check that stops before any
  training needs no Python + TensorFlow start of its own."""
  name = "bench_augment_tool"  # Its flags are defined once per process.
  if name not in sys.modules:
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(REPO, "tools/bench_augment.py"))
    sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[name])
  flags.FLAGS(["bench_augment.py", *argv])
  try:
    return sys.modules[name].main([])
  finally:
    flags.FLAGS.unparse_flags()


@pytest.mark.slow
def test_prints_one_row_per_run_beside_the_floors(tiny_data_root, tmp_path):
  result = _bench(
      tiny_data_root, tmp_path, "--sizes=8", "--models=lightweight_demo",
      "--augments=none,ada", "--steps=2", "--eval_images=16",
      "--ada_flags=--ada_kimg=1",  # Given to the ada run only, or none fails.
      # No EMA copy of G to build and update and no sample grid to draw
      # (--image_every > --steps): the table is what is checked.
      "--train_flags=--base_channels=4,--z_dim=8,--batch_size=4,"
      "--image_every=100,--checkpoint_every=2,--ema_beta=0")
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [line.split("|")[1:-1] for line in result.stdout.splitlines()
          if line.startswith("| ") and not line.startswith("| model")]
  assert [[cell.strip() for cell in row[:3]] for row in rows] == [
      ["real photos (floor)", "", ""], ["the 8 training photos", "8", ""],
      ["lightweight_demo", "8", "none"], ["lightweight_demo", "8", "ada"]]
  assert all(np.isfinite(float(row[3])) for row in rows)
  # 8 photos written once, shared by both runs.
  assert len(os.listdir(tmp_path / "data" / "train_8")) == 8


def test_too_few_photos_is_one_line(tiny_data_root, tmp_path):
  """A UsageError, which `app.run` prints as one line and exits 1 on."""
  with pytest.raises(app.UsageError) as info:
    _bench_main(f"--data_root={tiny_data_root}", f"--out={tmp_path}",
                "--sizes=8", "--eval_images=40")
  assert "\n" not in str(info.value)
  assert str(info.value).endswith(
      "has 60 photos; --eval_images=40 twice and --sizes up to 8 need 88")
  assert not os.listdir(tmp_path)  # Stopped before writing any subset.
