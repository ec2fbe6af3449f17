"""What a folder holds, byte for byte: for tests of deterministic writers."""

import os
from typing import Dict


def all_files(root: str) -> Dict[str, bytes]:
  """Path relative to `root` -> the file's bytes, for every file below."""
  files = {}
  for folder, _, names in os.walk(root):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, root)] = f.read()
  return files
