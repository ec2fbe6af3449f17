"""A real TensorBoard process on a loopback port, started and always stopped.

Tests, tools/bench_projector.py and the CLI check exports against the actual
projector plugin rather than a reimplementation of it. The process is
`python -m tensorboard.main`, the console script's own entry point, run with
this interpreter so it sees the same packages.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import List, Optional

HOST = "127.0.0.1"  # Loopback only: nothing here is meant to be reachable.
PLUGIN_ROUTE = "/data/plugin/projector"


def free_port() -> int:
  """A port the OS just reported free (another process may still take it)."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind((HOST, 0))
    return s.getsockname()[1]


class TensorBoard:
  """`with TensorBoard(logdir) as tb:` runs `tensorboard --logdir logdir`.

  Attributes:
    started: `time.perf_counter()` when the process was launched.
    first_answered: `time.perf_counter()` when the first request that got an
      HTTP answer was sent: "from first request" timings start here.
  """

  def __init__(self, logdir: str, port: Optional[int] = None):
    self.logdir = logdir
    self.port = port or free_port()
    self.started = None
    self.first_answered = None
    self._process = None
    # A file, not a pipe: TensorFlow's start-up chatter would fill a pipe
    # nobody reads and block the server.
    self._log = tempfile.TemporaryFile()

  def __enter__(self) -> "TensorBoard":
    self.started = time.perf_counter()
    self._process = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", self.logdir,
         "--port", str(self.port), "--host", HOST],
        stdout=self._log, stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return self

  def __exit__(self, *exc_info) -> None:
    self._process.terminate()
    try:
      self._process.wait(timeout=10)
    except subprocess.TimeoutExpired:
      self._process.kill()
      self._process.wait()
    self._log.close()

  def get(self, route: str, timeout: float = 60.0, **params) -> bytes:
    """GETs a projector plugin route, e.g. get("/tensor", run=..., name=...)."""
    query = urllib.parse.urlencode(params)
    url = f"http://{HOST}:{self.port}{PLUGIN_ROUTE}{route}?{query}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
      return response.read()

  def wait_for_runs(self, timeout: float = 60.0) -> List[str]:
    """Polls /runs until it lists a run; returns the runs.

    Raises:
      RuntimeError: if TensorBoard exits or lists nothing within `timeout`;
        the message ends with its log.
    """
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
      if self._process.poll() is not None:
        raise RuntimeError(f"tensorboard exited with code "
                           f"{self._process.returncode}:\n{self.log_tail()}")
      sent = time.perf_counter()
      try:
        runs = json.loads(self.get("/runs", timeout=max(0.1, deadline - sent)))
      except (urllib.error.URLError, ConnectionError, TimeoutError):
        runs = []  # Not listening yet, or failing: see log_tail().
      else:
        self.first_answered = self.first_answered or sent
      if runs:
        return runs
      time.sleep(0.1)
    raise RuntimeError(f"tensorboard listed no projector run within "
                       f"{timeout} s:\n{self.log_tail()}")

  def log_tail(self, chars: int = 3000) -> str:
    self._log.seek(0)
    return self._log.read().decode("utf-8", "replace")[-chars:]
