"""What every entry point shares: quiet start-up and errors as exit codes.

An entry point is `common.main(program, body)`: absl parses the flags, any
positional argument is a usage error, and every expected failure becomes one
line on stderr and a documented exit code, never a traceback:

  0    done
  1    usage error (absl: bad or missing flag)
  2    bad input: a missing or unreadable file, a bad value (ValueError,
       OSError, FileExistsError, an unusable image)
  3    the work stopped on its own check: non-finite values, a retrace, an
       export that failed verification
  130  interrupted by Ctrl-C (s2f-train saves a checkpoint first)
"""

import os
import sys
from typing import Callable, Sequence, Tuple, Type

from absl import app

BAD_INPUT = 2
STOPPED = 3
INTERRUPTED = 130


def quiet_tensorflow() -> None:
  """Hides TF's C++ INFO and WARNING lines from its runtime logger.

  Must run before TensorFlow is imported; TF_CPP_MIN_LOG_LEVEL set by the
  user wins. TF 2.21 still prints a few start-up lines (oneDNN, CUDA probing)
  before its logger is initialised; no setting hides those, so our own error
  messages always come last on stderr.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# (exception types, exit code, message template with {program} and {error}).
Failure = Tuple[Tuple[Type[BaseException], ...], int, str]


def _bad_input_types() -> Tuple[Type[BaseException], ...]:
  from s2f_tf.data import decode  # pylint: disable=g-import-not-at-top
  return (OSError, ValueError, decode.BadFile)


def main(program: str, body: Callable[[], int],
         failures: Sequence[Failure] = (), positional: bool = False) -> None:
  """Runs `body` as an absl app; expected failures become exit codes.

  Args:
    program: the command's name, the prefix of every error line.
    body: does the work after flags are parsed; returns the exit code.
      With `positional`, it takes argv[1:].
    failures: the command's own failures, checked before the bad-input
      ones (e.g. numerics errors -> STOPPED).
    positional: the command takes positional arguments (s2f-data's verb).
  """
  def run(argv):
    if len(argv) > 1 and not positional:
      raise app.UsageError(f"unexpected arguments {argv[1:]}; flags only")
    handled = tuple(failures) + (
        (_bad_input_types(), BAD_INPUT, "{program}: {error}"),)
    try:
      return body(argv[1:]) if positional else body()
    except tuple(t for types, _, _ in handled for t in types) as e:
      for types, code, template in handled:
        if isinstance(e, types):
          print(template.format(program=program, error=e), file=sys.stderr)
          return code
      raise
  app.run(run)
