"""The editor's app on uvicorn: one process, one line when it listens.

uvicorn handles Ctrl-C and SIGTERM itself: it stops accepting, lets the
requests in flight finish, closes the socket, then raises the signal again
for the previous handler, so `s2f-serve` ends with the command line's usual
one line and code (`cli.common`: 130 or 143).
"""

import time
from typing import Callable, Optional

from starlette import applications
import uvicorn

LOCALHOST = "127.0.0.1"


class _Server(uvicorn.Server):
  """uvicorn.Server that calls `on_listening(url)` once its socket is open."""

  def __init__(self, config: uvicorn.Config,
               on_listening: Callable[[str], None]):
    super().__init__(config)
    self._on_listening = on_listening

  async def startup(self, sockets=None):
    await super().startup(sockets)
    if not self.should_exit:  # A port in use sets it and exits.
      host, port = self.servers[0].sockets[0].getsockname()[:2]
      self._on_listening(f"http://{host}:{port}/")


def serve(app: applications.Starlette, host: str = LOCALHOST,
          port: int = 8080,
          on_listening: Optional[Callable[[str], None]] = None) -> None:
  """Serves `app` until Ctrl-C or SIGTERM (re-raised once it has stopped).

  Args:
    app: from `app.make_app`.
    host: LOCALHOST keeps the editor to this machine; "0.0.0.0" opens it to
      the network, with no authentication (docs/serving.md).
    port: 0 takes a free one (the URL printed names it).
    on_listening: called with the URL once the socket accepts; default
      prints it with the time since `serve` was called.

  Raises:
    OSError: the port is in use or the host cannot be bound.
  """
  start = time.perf_counter()

  def announce(url):
    print(f"s2f-serve: listening on {url} "
          f"({time.perf_counter() - start:.2f} s after the model loaded)",
          flush=True)

  config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                          access_log=False, lifespan="off")
  server = _Server(config, on_listening or announce)
  try:
    server.run()
  except SystemExit:  # uvicorn's way out when it cannot bind.
    raise OSError(f"cannot listen on {host}:{port} (in use, or not an "
                  "address of this machine); pass another --port or --host"
                  ) from None
