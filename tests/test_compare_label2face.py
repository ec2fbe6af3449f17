"""tools/compare_label2face.py's table from made-up runs (no training).

The run itself (four models through s2f-train and s2f-eval) is measured by
hand; here its pieces: step ms from the times of a run's events, and the
Markdown row and table from s2f-eval's results.
"""

import math
import os

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.summary.writer import event_file_writer

import tool_modules

compare = tool_modules.load("compare_label2face")


def _write_events(workdir, tag, steps, wall_times):
  """train/<tag> scalars at `steps`, stamped with the given wall times (the
  training loop's writer stamps the current time)."""
  writer = event_file_writer.EventFileWriter(os.path.join(workdir, "train"))
  for step, wall_time in zip(steps, wall_times):
    writer.add_event(event_pb2.Event(
        wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=f"train/{tag}",
                                      simple_value=1.0)])))
  writer.close()


def test_step_ms_is_the_time_between_the_first_and_last_logged_step(
    tmp_path):
  _write_events(str(tmp_path), "steps_per_second", [5, 10, 15, 20],
                [100.0, 100.5, 101.0, 101.75])
  _write_events(str(tmp_path), "g/total", [20], [500.0])  # One point: unused.
  assert compare.step_ms(str(tmp_path)) == 1e3 * 1.75 / 15


def test_step_ms_is_nan_without_two_logged_steps(tmp_path):
  assert math.isnan(compare.step_ms(str(tmp_path / "never_ran")))
  _write_events(str(tmp_path), "steps_per_second", [5], [100.0])
  assert math.isnan(compare.step_ms(str(tmp_path)))


# s2f-eval's results for --metrics=psnr,ssim,class_colour,swd (trimmed).
RESULTS = {
    "step": 1234, "examples": 240,
    "model": {"l1": 0.2, "psnr": 18.674, "ssim": 0.7172},
    "other_identity_refs": {"l1": 0.4, "psnr": 11.5, "ssim": 0.3},
    "mean_train_photo": {"l1": 0.38, "psnr": 13.391, "ssim": 0.5},
    "psnr_gain_db_vs_other_identity_refs": 7.174,
    "psnr_gain_db_vs_mean_train_photo": -0.2831,
    "class_colour_error": {"skin": 0.1234, "background": 0.04449,
                           "nose": 0.5},
    "swd": {"x1e3_avg": 140.83, "x1e3_16": 99.0},
}


def test_row_has_every_column_and_marks_a_class_no_face_showed():
  assert compare.table_row("SEAN", RESULTS, 412.6, 1234567) == (
      "| SEAN | 1,234 | 413 | 1,234,567 | 18.67 | 0.717 | 140.8 | 0.123 | "
      "n/a | 0.044 | +7.17 / -0.28 |")


def test_table_heads_the_rows_and_names_the_mean_photo():
  row = compare.table_row("pix2pixHD", RESULTS, float("nan"), 10)
  lines = compare.table([row, row], 13.391).split("\n")
  assert lines[0] == (
      "| model | steps | step ms | G params | PSNR (dB) | SSIM | SWD x1e3 | "
      "skin colour err | hair colour err | background colour err | "
      "PSNR gain vs other refs / mean photo (dB) |")
  assert all(line.count("|") == 12 for line in lines[:4])
  assert lines[2:4] == [row, row] and "| 1,234 | n/a | 10 |" in row
  assert lines[-1] == ("The mean training photo scores 13.39 dB on the same "
                       "people.")
