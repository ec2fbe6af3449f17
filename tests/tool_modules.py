"""Modules of tools/ (not a package) for tests, imported the way the tools
import each other: by name, with tools/ on the path."""

import importlib
import os
import sys

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "tools")


def load(name: str):
  """tools/<name>.py as a module (appended to the path: never shadows)."""
  if TOOLS not in sys.path:
    sys.path.append(TOOLS)
  return importlib.import_module(name)
