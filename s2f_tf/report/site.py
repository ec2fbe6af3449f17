"""`build_report(runs_dir, out_dir)`: the one library call behind s2f-report.

Layout of the site:
  out/index.html, style.css          one row per run
  out/runs/<slug>/index.html         one page per run
  out/runs/<slug>/samples/, progress.gif   copies of the run's images
  out/runs/<slug>/plots/<group>.<fmt>      loss figures
  out/runs/<slug>/report-cache.json        what the figures were drawn from

Rebuilding is incremental: an image is copied only when its size or mtime
changed (never re-encoded), and a run's events are read and its figures drawn
only when its event files' (name, size, mtime) or the formats changed.
Drawing is the only slow part (~0.1 s a figure), so it is spread over worker
processes.
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
from typing import Any, Dict, List, Optional, Sequence

from s2f_tf.report import curves as curves_lib
from s2f_tf.report import pages
from s2f_tf.report import plots as plots_lib
from s2f_tf.report import runs as runs_lib

CACHE = "report-cache.json"
_CACHE_VERSION = 1
_POOL_MIN_RUNS = 4  # Below this, starting workers costs more than it saves.


@dataclasses.dataclass
class Summary:
  """What a build did, for the CLI's one-line report and for tests."""

  runs: int
  redrawn: int
  others: List[str]
  index: str


def slug(name: str) -> str:
  """A run's folder name in the site: readable, safe on any static host.

  A name that had to change gets a hash of the original, so `a/b`, `a b`
  and `a_b` never share a folder.
  """
  safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "__"))
  if safe == name and safe.strip("."):
    return safe
  digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
  return f"{safe.strip('.') or 'run'}-{digest}"


def _copy_once(src: str, dst: str) -> None:
  """Copies unless dst has src's size and mtime (copy2 keeps the mtime)."""
  try:
    s, d = os.stat(src), os.stat(dst)
    if s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime):
      return
  except FileNotFoundError:
    pass
  os.makedirs(os.path.dirname(dst), exist_ok=True)
  shutil.copy2(src, dst)


def _load_cache(path: str) -> Dict[str, Any]:
  try:
    with open(path, encoding="utf-8") as f:
      cache = json.load(f)
    return cache if isinstance(cache, dict) else {}
  except (OSError, ValueError):
    return {}


def _cache_key(run: runs_lib.Run, formats: Sequence[str]) -> Dict[str, Any]:
  """What a run's figures depend on: its event files and the formats."""
  return {"version": _CACHE_VERSION, "formats": list(formats),
          "events": [list(e) for e in run.events_signature()]}


def _from_cache(run_out: str, key: Dict[str, Any]) -> Optional[Dict[str, Any]]:
  """The cached progress and figures if drawn from `key` and still on disk."""
  cache = _load_cache(os.path.join(run_out, CACHE))
  if cache.get("key") != key or not all(
      os.path.exists(os.path.join(run_out, "plots", fig[fmt]))
      for fig in cache.get("figures", []) for fmt in key["formats"]):
    return None
  return {**cache, "redrawn": False}


def _draw(run: runs_lib.Run, run_out: str, formats: Sequence[str],
          key: Dict[str, Any]) -> Dict[str, Any]:
  """Reads the run's events and draws its figures; runs in a worker."""
  curves, problem = {}, None
  try:
    if run.event_files:
      curves = curves_lib.read_curves(os.path.join(run.path, "train"))
  except Exception as e:  # pylint: disable=broad-except
    # A corrupt event file must not take the site down; say what failed.
    problem = f"events unreadable: {type(e).__name__}: {e}"
  figures = plots_lib.save_all(curves, os.path.join(run_out, "plots"),
                               formats)
  cache = {"key": key, "progress": curves_lib.progress(curves),
           "figures": figures, "problem": problem}
  os.makedirs(run_out, exist_ok=True)
  with open(os.path.join(run_out, CACHE), "w", encoding="utf-8") as f:
    json.dump(cache, f)
  return {**cache, "redrawn": True}


def _all_curves(found: List[runs_lib.Run], out_dir: str,
                formats: Sequence[str], workers: int) -> List[Dict[str, Any]]:
  """Each run's progress and figures: from the cache, or drawn anew."""
  results, todo = [], []
  for i, run in enumerate(found):
    run_out = os.path.join(out_dir, "runs", slug(run.name))
    key = _cache_key(run, formats)
    results.append(_from_cache(run_out, key))
    if results[-1] is None:
      todo.append((i, run, run_out, key))
  if workers <= 1 or len(todo) < _POOL_MIN_RUNS:
    drawn = [_draw(run, run_out, formats, key) for _, run, run_out, key in todo]
  else:
    # fork is cheapest (matplotlib is imported already) but unsafe once
    # TensorFlow's threads exist in this process; spawn then.
    method = "spawn" if "tensorflow" in sys.modules else "fork"
    with concurrent.futures.ProcessPoolExecutor(
        workers, multiprocessing.get_context(method)) as pool:
      drawn = list(pool.map(_draw, *zip(*[(run, run_out, formats, key)
                                          for _, run, run_out, key in todo])))
  for (i, *_), result in zip(todo, drawn):
    results[i] = result
  return results


def _copy_images(run: runs_lib.Run, run_out: str) -> Dict[str, Any]:
  """Copies grids and GIF beside the run's page; returns page-relative paths.

  An image that cannot be read (a symlink to itself, no permission, gone
  since the run was read) is left out and named in `run.problems`: one bad
  file must not stop the site.
  """
  def copied(src, rel):
    try:
      _copy_once(src, os.path.join(run_out, rel))
      return True
    except OSError as e:
      run.problems.append(f"{rel} is unreadable: {e.strerror or e}")
      return False

  grids = [(step, "samples/" + os.path.basename(path))
           for step, path in run.grids]
  grids = [(step, rel) for (step, rel), (_, path) in zip(grids, run.grids)
           if copied(path, rel)]
  gif = "progress.gif" if run.gif and copied(run.gif, "progress.gif") else None
  return {"grids": grids, "gif": gif}


def _write(path: str, content: str) -> None:
  """Writes only on change, so a static host's caches stay valid."""
  try:
    with open(path, encoding="utf-8") as f:
      if f.read() == content:
        return
  except OSError:
    pass
  with open(path, "w", encoding="utf-8") as f:
    f.write(content)


def _web_format(formats: Sequence[str]) -> List[str]:
  """The formats to write: those asked for, plus SVG if none can be shown."""
  for fmt in formats:
    if fmt not in plots_lib.FORMATS:
      raise ValueError(f"--plots={fmt!r} is unknown; use one or more of "
                       f"{', '.join(plots_lib.FORMATS)}")
  if not any(fmt in plots_lib.WEB_FORMATS for fmt in formats):
    return ["svg", *formats]
  return list(dict.fromkeys(formats))


def build_report(runs_dir: str, out_dir: str,
                 plots: Sequence[str] = ("svg",), workers: int = 2) -> Summary:
  """Writes (or updates) the site for every run under `runs_dir`.

  Raises FileNotFoundError if `runs_dir` is not a folder and ValueError for
  an unknown plot format or an `out_dir` that is a file; anything wrong
  inside a run is shown on its page.
  """
  formats = _web_format(plots)
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise ValueError(f"--out={out_dir!r} is a file; give a folder")
  found, others = runs_lib.find_runs(runs_dir)
  os.makedirs(out_dir, exist_ok=True)
  results = _all_curves(found, out_dir, formats, workers)
  entries = []
  for run, result in zip(found, results):
    run_out = os.path.join(out_dir, "runs", slug(run.name))
    images = _copy_images(run, run_out)  # First: it may add problems.
    entry = pages.RunEntry(run=run, href=f"runs/{slug(run.name)}/",
                           progress=result["progress"],
                           figures=result["figures"],
                           problems=run.problems + [p for p in
                                                    [result["problem"]] if p],
                           **images)
    _write(os.path.join(run_out, "index.html"), pages.run_page(entry))
    entries.append(entry)
  _write(os.path.join(out_dir, "style.css"), pages.STYLE)
  index = os.path.join(out_dir, "index.html")
  _write(index, pages.index_page(entries, others, runs_dir))
  return Summary(runs=len(found), redrawn=sum(r["redrawn"] for r in results),
                 others=others, index=index)
