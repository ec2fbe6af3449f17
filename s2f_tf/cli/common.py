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
  74   stopped on I/O: a write failed (full disk, quota, read-only mount);
       the line names the path, the OS error and the free space, and
       nothing half-written is left (sysexits' EX_IOERR)
  75   the workdir is in use by another s2f-train, named by pid and host;
       try again later (sysexits' EX_TEMPFAIL)
  130  interrupted by Ctrl-C (SIGINT, 128 + 2); s2f-train saves a checkpoint
       at the next step first
  143  stopped by SIGTERM (128 + 15, what a shell reports for it), as a
       scheduler or a spot VM stops a job; s2f-train saves a checkpoint at
       the next step first

Both signals end any other command (an evaluation or projection of
minutes) with that line and code too, instead of a silent kill or a
traceback: files are written whole or not at all, so the same command
simply runs again.
"""

import os
import signal
import sys
import threading
from typing import Callable, Sequence, Tuple, Type, Union

from absl import app

BAD_INPUT = 2
STOPPED = 3
IO_FAILED = 74
BUSY = 75
INTERRUPTED = 130
PREEMPTED = 143


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


class Terminated(BaseException):
  """SIGTERM, raised where the command is (s2f-train's loop handles its own).

  A BaseException, as KeyboardInterrupt is for SIGINT: `except Exception`
  clauses must not swallow it.
  """


def _raise_terminated(unused_signum, unused_frame):
  raise Terminated()


def _shared_failures() -> Tuple[Failure, ...]:
  """What every command can hit: a signal, a failed write, bad input."""
  # pylint: disable=g-import-not-at-top
  from s2f_tf import files
  from s2f_tf.data import decode
  # pylint: enable=g-import-not-at-top
  return (
      ((Terminated,), PREEMPTED,
       "{program} stopped by SIGTERM; rerun the same command"),
      ((KeyboardInterrupt,), INTERRUPTED,
       "{program} stopped by Ctrl-C; rerun the same command"),
      ((files.WriteError,), IO_FAILED, "{program} stopped on I/O: {error}"),
      ((OSError, ValueError, decode.BadFile), BAD_INPUT, "{program}: {error}"),
  )


def main(program: str, body: Callable[[], int],
         failures: Union[Sequence[Failure],
                         Callable[[], Sequence[Failure]]] = (),
         positional: bool = False) -> None:
  """Runs `body` as an absl app; expected failures become exit codes.

  Args:
    program: the command's name, the prefix of every error line.
    body: does the work after flags are parsed; returns the exit code.
      With `positional`, it takes argv[1:].
    failures: the command's own failures, checked before the bad-input
      ones (e.g. numerics errors -> STOPPED); or a function returning them,
      called only once `body` has raised, for exception types that live in
      modules importing TensorFlow: a command that refuses bad flags before
      importing them then never loads TensorFlow to print the refusal.
    positional: the command takes positional arguments (s2f-data's verb).
  """
  def run(argv):
    if len(argv) > 1 and not positional:
      raise app.UsageError(f"unexpected arguments {argv[1:]}; flags only")
    if threading.current_thread() is threading.main_thread():
      signal.signal(signal.SIGTERM, _raise_terminated)
    try:
      return body(argv[1:]) if positional else body()
    except BaseException as e:  # Re-raised below unless expected.
      own = failures() if callable(failures) else failures
      for types, code, template in tuple(own) + _shared_failures():
        if isinstance(e, types):
          print(template.format(program=program, error=e), file=sys.stderr)
          return code
      raise
  app.run(run)
