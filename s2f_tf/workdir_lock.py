"""One trainer per workdir: a lock file holding the owner's pid and host.

Two trainers on one workdir would interleave checkpoints and overwrite each
other's config.json. `hold` creates `workdir/train.lock` exclusively (it
appears with its contents or not at all, see `files.write_atomically`) and
removes it at exit. A lock left by a killed trainer on this host (its pid no
longer runs) is taken over with a warning; a lock from another host cannot
be checked from here, so it is refused with a line saying how to clear it.
No TensorFlow import.
"""

import contextlib
import json
import os
import socket
import time
from typing import Dict, Optional

from absl import logging

from s2f_tf import files

LOCK_NAME = "train.lock"


class LockedError(Exception):
  """Another live trainer holds the workdir."""


def lock_path(workdir: str) -> str:
  return os.path.join(workdir, LOCK_NAME)


@contextlib.contextmanager
def hold(workdir: str, enabled: bool = True):
  """Holds `workdir`'s lock for the block; `enabled=False` does nothing.

  Under multi-worker training only the chief holds it: the other workers
  write no files into the workdir that a second run would clash with.

  Raises:
    LockedError: a live trainer (or one on another host) holds it.
  """
  if not enabled:
    yield
    return
  path = lock_path(workdir)
  mine = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
  _acquire(path, mine)
  try:
    yield
  finally:
    if _read(path) == mine:  # Never remove a lock that was taken over.
      with contextlib.suppress(OSError):
        os.remove(path)


def _acquire(path: str, mine: Dict) -> None:
  for _ in range(2):  # Second try only after removing a stale lock.
    try:
      files.write_atomically(path, json.dumps(mine), exclusive=True)
      return
    except FileExistsError:
      pass
    owner = _read(path)
    if owner is not None and _is_alive(owner, mine["host"]):
      break
    owner = owner or {}
    logging.warning("Taking over %s: its trainer (pid %s on %s, started %s) "
                    "is gone.", path, owner.get("pid", "?"),
                    owner.get("host", "?"), owner.get("started", "?"))
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)
  owner = _read(path) or {}
  raise LockedError(
      f"{os.path.dirname(path)} is in use by another s2f-train (pid "
      f"{owner.get('pid', '?')} on {owner.get('host', '?')}, started "
      f"{owner.get('started', '?')}); wait for it, use another --workdir, or "
      f"delete {path} if that trainer is gone")


def owner(workdir: str) -> Optional[Dict]:
  """The lock's {"pid", "host", "started"}, or None: no trainer holds it."""
  return _read(lock_path(workdir))


def owner_runs(holder: Dict) -> Optional[bool]:
  """Whether the lock's trainer still runs: None when it is on another
  host, which cannot be checked from here."""
  if holder.get("host") != socket.gethostname():
    return None
  return _is_alive(holder, socket.gethostname())


def _read(path: str) -> Optional[Dict]:
  try:
    with open(path) as f:
      owner = json.load(f)
  except (OSError, ValueError):
    return None
  return owner if isinstance(owner, dict) and "pid" in owner else None


def _is_alive(owner: Dict, host: str) -> bool:
  """True unless `owner` is a process of this host that no longer runs."""
  if owner.get("host") != host:
    return True
  try:
    os.kill(int(owner["pid"]), 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # Runs, as another user.
  return True
