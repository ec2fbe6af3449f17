"""`s2f-serve` in a child process, for what drives it from outside: the
browser tests, the screenshot tool and the latency benchmark.

The child prints one line when it listens (`server.serve`), with its URL and
how long after the model load that was; `Launched` waits for that line,
so a caller starts with a server that answers.
"""

import re
import signal
import subprocess
import sys
from typing import List, Sequence, Tuple

# A process started with SIGINT ignored (a background job of a shell without
# job control) passes the ignore on to its children, and Python then never
# raises KeyboardInterrupt: `stop(signal.SIGINT)` would do nothing. This
# resets SIGINT to its default before Python starts the command, so the
# child takes Ctrl-C as a command in a terminal does.
_DEFAULT_SIGINT = ("import os, signal, sys; "
                   "signal.signal(signal.SIGINT, signal.SIG_DFL); "
                   "os.execv(sys.executable, [sys.executable] + sys.argv[1:])")


def with_default_sigint(argv: Sequence[str]) -> List[str]:
  """`[sys.executable, ...argv]`, run with SIGINT at its default whatever
  this process does with it (see `_DEFAULT_SIGINT`)."""
  return [sys.executable, "-c", _DEFAULT_SIGINT, *argv]


LISTENING = re.compile(r"listening on (http://\S+) \(([\d.]+) s after the "
                       r"model loaded\)")


class Launched:
  """`s2f-serve ARGS --port=0`, once it listens: `url`, `startup_s`.

  Raises:
    RuntimeError: the child ended before it listened, with its stderr's
      last line (a bad flag, a missing export).
  """

  def __init__(self, args: Sequence[str]):
    self.process = subprocess.Popen(
        with_default_sigint(["-m", "s2f_tf.cli.serve_main", *args,
                             "--port=0"]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    self.lines: List[str] = []
    for line in self.process.stdout:
      self.lines.append(line)
      match = LISTENING.search(line)
      if match:
        self.url, self.startup_s = match.group(1), float(match.group(2))
        return
    _, stderr = self.stop()
    raise RuntimeError("s2f-serve never listened: "
                       f"{(stderr.strip().splitlines() or [''])[-1]}")

  def stop(self, sig: int = signal.SIGTERM) -> Tuple[int, str]:
    """Sends `sig` (if it still runs); returns (exit code, stderr)."""
    if self.process.poll() is None:
      self.process.send_signal(sig)
    _, stderr = self.process.communicate(timeout=60)
    return self.process.returncode, stderr

  def __enter__(self):
    return self

  def __exit__(self, *unused_exc):
    self.stop()
