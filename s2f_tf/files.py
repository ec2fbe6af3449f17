"""Writing files so that a failure is one clear line and never half a file.

Every small file a run or a tool writes (config.json, flags.cfg, eval.json,
the projector's files, the workdir lock) goes through `write_atomically`, so
a reader (a resumed run, TensorBoard, a person) sees the old file or the new
one, never a mix. A write that fails for an OS reason (full disk, quota,
read-only mount, file-size limit) becomes a `WriteError` naming the path,
the error and the space left; the CLIs turn it into exit code 74 (see
`s2f_tf.cli.common`). Standard library only: the TF-free `projector`
package uses it too.
"""

import contextlib
import os
import re
import shutil
from typing import Tuple, Type, Union


class WriteError(Exception):
  """A write failed for a reason outside the program: disk, quota, mount."""

  def __init__(self, path: str, error: BaseException, note: str = ""):
    why = getattr(error, "strerror", None) or reason(error)
    message = f"cannot write {path}: {why}{_free_space(path)}"
    super().__init__(f"{message}; {note}" if note else message)
    self.path = path


def reason(error: BaseException) -> str:
  """The OS's words from any error, e.g. from TF's `OpError` message

  "{{function_node ...}} .../ckpt-20_temp/part-0...; File too large
  [Op:SaveV2]" -> "File too large".
  """
  text = str(getattr(error, "message", None) or error)
  text = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", text).strip()
  text = text.splitlines()[0] if text else type(error).__name__
  return text.rsplit("; ", 1)[-1].strip()


def _free_space(path: str) -> str:
  """' (N MB free on that disk)', or '' when even that cannot be read."""
  folder = os.path.abspath(path)
  while folder and not os.path.isdir(folder):
    folder = os.path.dirname(folder)
  try:
    free = shutil.disk_usage(folder).free
  except OSError:
    return ""
  return f" ({free / 2**20:.1f} MB free on that disk)"


@contextlib.contextmanager
def writing(path: str, errors: Tuple[Type[BaseException], ...] = (OSError,),
            note: str = ""):
  """Turns `errors` raised inside the block into one `WriteError`."""
  try:
    yield
  except FileExistsError:
    raise  # Someone else's file, not a failed write.
  except errors as e:
    raise WriteError(path, e, note) from None


def user_cache_dir() -> str:
  """`$XDG_CACHE_HOME/s2f_tf` (default `~/.cache/s2f_tf`): what s2f_tf
  keeps between runs on this machine (the precision choice, real images'
  Inception features). Deleting it only costs recomputation."""
  root = os.environ.get("XDG_CACHE_HOME") or os.path.join(
      os.path.expanduser("~"), ".cache")
  return os.path.join(root, "s2f_tf")


def write_atomically(path: str, data: Union[str, bytes],
                     exclusive: bool = False) -> str:
  """Writes `data` to `path` (and its folder) via a temporary file there.

  os.replace within one folder is atomic on POSIX, so a reader never sees
  half a file, and a failed write leaves the old file and no temporary.
  With `exclusive`, os.link publishes it instead, which fails if `path`
  exists: a lock file that appears with its contents or not at all.

  Raises:
    FileExistsError: `exclusive` and `path` exists.
    WriteError: naming `path`; nothing was changed.
  """
  tmp = os.path.join(os.path.dirname(path),
                     f".{os.path.basename(path)}.{os.getpid()}.tmp")
  payload = data.encode("utf-8") if isinstance(data, str) else data
  try:
    with writing(path):
      os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
      with open(tmp, "wb") as f:
        f.write(payload)
      if exclusive:
        os.link(tmp, path)  # FileExistsError passes `writing` untouched.
      else:
        os.replace(tmp, path)
  finally:
    _remove(tmp)  # Gone already after os.replace.
  return path


def _remove(path: str) -> None:
  with contextlib.suppress(OSError):
    os.remove(path)
