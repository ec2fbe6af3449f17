"""Reads a folder of runs into `Run` records, whatever state each one is in.

Real folders hold crashed runs, runs still training, runs that never got to
evaluation and folders that are not runs at all. Every reader here turns a
missing or unreadable file into a one-line entry of `Run.problems` (shown on
the page) instead of an exception, so one bad run never hides the others.
"""

import dataclasses
import glob
import json
import os
import re
import time
from typing import Any, Dict, List, Optional, Tuple

from s2f_tf import config as config_lib
from s2f_tf import workdir_lock

# Files and folders that s2f-train writes into a workdir; any one of them
# makes a folder a run (a run that crashed early may have only one).
RUN_MARKERS = ("config.json", "flags.cfg", "eval.json", "train", "samples")
# A run whose event files changed this recently is taken to be training.
RUNNING_WINDOW_S = 300.0
_MAX_DEPTH = 3  # runs/group/sweep/run is as deep as people nest runs.
_GRID_STEP = re.compile(r"step_(\d+)\.png$")


@dataclasses.dataclass
class Run:
  """What one workdir holds; None or empty where a part is missing."""

  name: str  # Path relative to the runs folder, with "/".
  path: str
  config: Optional[Dict[str, Any]] = None
  flags_text: Optional[str] = None
  eval: Optional[Dict[str, Any]] = None
  grids: List[Tuple[int, str]] = dataclasses.field(default_factory=list)
  gif: Optional[str] = None
  event_files: List[str] = dataclasses.field(default_factory=list)
  problems: List[str] = dataclasses.field(default_factory=list)

  def section(self, name: str) -> Dict[str, Any]:
    part = (self.config or {}).get(name)
    return part if isinstance(part, dict) else {}

  @property
  def model(self) -> Optional[str]:
    return self.section("model").get("model")

  @property
  def task(self) -> Optional[str]:
    model = self.section("model")
    return config_lib.task_of(model) if model else None

  @property
  def target_steps(self) -> Optional[int]:
    steps = self.section("train").get("steps")
    return steps if isinstance(steps, int) else None

  def events_signature(self) -> List[Tuple[str, int, float]]:
    """(file, size, mtime) of each event file: unchanged means same curves."""
    out = []
    for path in self.event_files:
      try:
        stat = os.stat(path)
      except OSError:
        continue
      out.append((os.path.basename(path), stat.st_size, stat.st_mtime))
    return out

  def status(self, steps: Optional[int]) -> str:
    """finished / running / killed / stopped at a step.

    From train.lock, which s2f-train holds while it runs and removes when
    it exits: a lock whose pid is gone on this host is a killed trainer; no
    lock, a stopped one. Only a lock from another host, which cannot be
    checked here, falls back to the event files' age.
    """
    if self.config is None:
      return "broken"
    target = self.target_steps
    if steps is not None and target is not None and steps >= target:
      return "finished"
    at = (f"at {steps} of {target if target is not None else '?'}"
          if steps is not None else "with no progress logged")
    holder = workdir_lock.owner(self.path)
    if holder is not None:
      alive = workdir_lock.owner_runs(holder)
      if alive is None:  # Another host's trainer: recent events say it runs.
        mtimes = [mtime for _, _, mtime in self.events_signature()]
        if mtimes and time.time() - max(mtimes) < RUNNING_WINDOW_S:
          return "running"
      elif alive:
        return "running"
      else:
        return f"killed {at} (pid {holder.get('pid', '?')} is gone)"
    if steps is None:
      return "no progress logged"
    return f"stopped {at}"


def flatten(tree: Dict[str, Any], prefix: str = "",
            sep: str = "/") -> Dict[str, Any]:
  """Nested dicts to one level, e.g. {'model': {'psnr': 1}} -> 'model/psnr'.

  Serves both config.json (sections) and eval.json (baselines), whatever
  their depth, so a new metric or section shows up without code changes.
  """
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{sep}{key}" if prefix else str(key)
    if isinstance(value, dict):
      out.update(flatten(value, name, sep))
    else:
      out[name] = value
  return out


def _read_json(path: str, run: Run) -> Optional[Dict[str, Any]]:
  name = os.path.basename(path)
  if not os.path.exists(path):
    run.problems.append(f"no {name}")
    return None
  try:
    with open(path, encoding="utf-8") as f:
      value = json.load(f)
  except (OSError, UnicodeDecodeError, ValueError) as e:
    run.problems.append(f"{name} is unreadable: {str(e).splitlines()[0]}")
    return None
  if not isinstance(value, dict):
    run.problems.append(f"{name} holds a {type(value).__name__}, not an "
                        "object")
    return None
  return value


def _read_text(path: str) -> Optional[str]:
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      return f.read()
  except OSError:
    return None


def _grids(path: str) -> List[Tuple[int, str]]:
  """samples/step_*.png as (step, path), in step order."""
  found = []
  for grid in glob.glob(os.path.join(path, "samples", "step_*.png")):
    match = _GRID_STEP.search(grid)
    if match:
      found.append((int(match.group(1)), grid))
  return sorted(found)


def read_run(path: str, name: str) -> Run:
  """One workdir; never raises for missing or corrupt files."""
  run = Run(name=name, path=path)
  run.config = _read_json(os.path.join(path, "config.json"), run)
  run.flags_text = _read_text(os.path.join(path, "flags.cfg"))
  run.eval = _read_json(os.path.join(path, "eval.json"), run)
  run.grids = _grids(path)
  gif = os.path.join(path, "progress.gif")
  run.gif = gif if os.path.isfile(gif) else None
  run.event_files = sorted(
      glob.glob(os.path.join(path, "train", "events.out.tfevents.*")))
  for missing, what in ((not run.grids, "no sample grids"),
                        (run.gif is None, "no progress GIF"),
                        (not run.event_files, "no TensorBoard events")):
    if missing:
      run.problems.append(what)
  return run


def is_run(path: str) -> bool:
  return any(os.path.exists(os.path.join(path, m)) for m in RUN_MARKERS)


def find_runs(runs_dir: str) -> Tuple[List[Run], List[str]]:
  """Runs under `runs_dir` (nested up to 3 deep) and the other folders.

  A run's own subfolders are not searched. Hidden folders are skipped.
  Raises FileNotFoundError only when `runs_dir` itself is not a folder.
  """
  if not os.path.isdir(runs_dir):
    raise FileNotFoundError(f"--runs={runs_dir!r} is not a folder")
  runs, others = [], []
  pending = [(runs_dir, 0)]
  while pending:
    folder, depth = pending.pop()
    name = os.path.relpath(folder, runs_dir).replace(os.sep, "/")
    if is_run(folder):
      runs.append(read_run(folder, name))
      continue
    if depth == _MAX_DEPTH:
      others.append(name)
      continue
    children = sorted(e.path for e in os.scandir(folder)
                      if e.is_dir() and not e.name.startswith("."))
    if not children and depth:
      others.append(name)
    pending.extend((child, depth + 1) for child in children)
  return sorted(runs, key=lambda r: r.name), sorted(others)


def differing_keys(configs: List[Dict[str, Any]]) -> List[str]:
  """'section.key' names whose value is not the same in every config.

  A key missing from some configs (an older run, another task) differs.
  """
  flat = [flatten(c, sep=".") for c in configs]
  keys = sorted({k for f in flat for k in f})
  return [k for k in keys
          if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
