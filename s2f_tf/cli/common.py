"""What every entry point does first: quiet TensorFlow's C++ start-up logs."""

import os


def quiet_tensorflow() -> None:
  """Hides TF's C++ INFO and WARNING lines from its runtime logger.

  Must run before TensorFlow is imported; TF_CPP_MIN_LOG_LEVEL set by the
  user wins. TF 2.21 still prints a few start-up lines (oneDNN, CUDA probing)
  before its logger is initialised; no setting hides those, so our own error
  messages always come last on stderr.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
