"""What every entry point does first: quiet TensorFlow's C++ start-up logs."""

import os


def quiet_tensorflow() -> None:
  """Hides TF's C++ INFO lines (CUDA probing, oneDNN notes) unless asked.

  Must run before TensorFlow is imported; TF_CPP_MIN_LOG_LEVEL set by the
  user wins.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
