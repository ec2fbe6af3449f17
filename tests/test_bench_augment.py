"""tools/bench_augment.py end to end on a tiny setting (not its results)."""

import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench(root, out, *args):
  return subprocess.run(
      [sys.executable, os.path.join(REPO, "tools/bench_augment.py"),
       f"--data_root={root}", f"--out={out}", *args],
      capture_output=True, text=True, timeout=600, cwd=REPO)


@pytest.mark.slow
def test_prints_one_row_per_run_beside_the_floors(tiny_data_root, tmp_path):
  result = _bench(
      tiny_data_root, tmp_path, "--sizes=8", "--models=lightweight_demo",
      "--augments=none,diffaug", "--steps=2", "--eval_images=16",
      "--train_flags=--base_channels=4,--z_dim=8,--batch_size=4,"
      "--image_every=2,--checkpoint_every=2")
  assert result.returncode == 0, result.stderr[-2000:]
  rows = [line.split("|")[1:-1] for line in result.stdout.splitlines()
          if line.startswith("| ") and not line.startswith("| model")]
  assert [[cell.strip() for cell in row[:3]] for row in rows] == [
      ["real photos (floor)", "", ""], ["the 8 training photos", "8", ""],
      ["lightweight_demo", "8", "none"], ["lightweight_demo", "8", "diffaug"]]
  assert all(np.isfinite(float(row[3])) for row in rows)
  # 8 photos written once, shared by both runs.
  assert len(os.listdir(tmp_path / "data" / "train_8")) == 8


def test_too_few_photos_is_one_line(tiny_data_root, tmp_path):
  result = _bench(tiny_data_root, tmp_path, "--sizes=8", "--eval_images=40")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].endswith(
      "has 60 photos; --eval_images=40 twice and --sizes up to 8 need 88")
