"""What `s2f-export --tflite` may ask for, checked without TensorFlow.

`tflite.convert` checks every conversion with `check_request`, and s2f-export
calls it on its flags before anything heavier is imported: a bad request is
refused in a fraction of a second, not after TensorFlow's start-up (about 4
seconds on a 2-core machine), and before anything is written.
"""

from typing import Sequence

QUANTIZATIONS = ("float16", "int8")


def check_request(quantizations: Sequence[str], has_calibration: bool
                  ) -> None:
  """Raises ValueError (one line) for an unknown quantization, or int8
  without calibration images."""
  for quantization in quantizations:
    if quantization not in QUANTIZATIONS:
      raise ValueError(f"--tflite={quantization!r} is unknown; use "
                       f"{' or '.join(QUANTIZATIONS)}")
  if "int8" in quantizations and not has_calibration:
    raise ValueError("--tflite=int8 calibrates its ranges on images: pass "
                     "--calibration_dir=FOLDER of typical inputs")
