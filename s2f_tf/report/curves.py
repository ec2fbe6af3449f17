"""Training curves from a run's TensorBoard events, grouped into figures.

Events are read only with TensorBoard's own `EventAccumulator`. Grouping rule
(one figure per group), applied to the tag name after `train/`, ignoring case:
  1. names ending in a measurement suffix (`_std`, `_per_second`, `_scale`,
     `_lr`, `_mean`, `_probability`) are measurements, not losses:
     "measurements" (e.g. ADA's d/augment_probability);
  2. the player's namespace: `d/...` (d/adv, d/r1, d/D_real, d/total) is the
     discriminator's, `g/...` (g/adv, g/l1, g/GAN_Feat) the generator's;
  3. without one (runs written before the namespaces), names starting with
     `d_` are the discriminator's and every other name the generator's.
A new task's losses therefore land in a figure without a list to update.
"""

import dataclasses
import importlib.util
import sys
import types
from typing import Dict, List, Optional

import numpy as np

PREFIX = "train/"
GROUPS = ("discriminator", "generator", "measurements")
MEASUREMENT_SUFFIXES = ("_std", "_per_second", "_scale", "_lr", "_mean",
                        "_probability")
NAMESPACES = {"d": "discriminator", "g": "generator"}  # Tags' player parts.


def _without_tensorflow() -> None:
  """Makes TensorBoard read events with its own TF-free stub.

  TensorBoard imports TensorFlow lazily on first use (~3 s) unless the module
  `tensorboard.compat.notf` exists, its documented switch for running
  without TF. Reading events needs nothing from TF, and the report would
  otherwise spend most of a rebuild importing it. A process that has TF
  loaded already keeps using it.
  """
  name = "tensorboard.compat.notf"
  if "tensorflow" not in sys.modules and importlib.util.find_spec(name) is None:
    sys.modules.setdefault(name, types.ModuleType(name))


_without_tensorflow()

# pylint: disable=g-import-not-at-top,g-bad-import-order
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util
# pylint: enable=g-import-not-at-top,g-bad-import-order


@dataclasses.dataclass
class Curve:
  """One scalar tag: values at generator steps, with wall-clock times."""

  name: str  # The tag without `train/`.
  steps: np.ndarray
  values: np.ndarray
  wall_times: np.ndarray


def group_of(name: str) -> str:
  """The figure a tag (without `train/`) belongs to; see the module doc."""
  lower = name.lower()
  if lower.endswith(MEASUREMENT_SUFFIXES):
    return "measurements"
  namespace = lower.split("/", 1)[0] if "/" in lower else ""
  if namespace in NAMESPACES:
    return NAMESPACES[namespace]
  if lower.startswith("d_"):  # An old run's tag.
    return "discriminator"
  return "generator"


def read_curves(logdir: str) -> Dict[str, Curve]:
  """Every `train/` scalar in `logdir`, in step order; {} if none.

  TF2 writes scalars as tensor events, TF1 as simple values: both are read.
  A truncated last record (a run still writing) is skipped by the reader.
  """
  accumulator = event_accumulator.EventAccumulator(
      logdir, size_guidance={event_accumulator.SCALARS: 0,
                             event_accumulator.TENSORS: 0,
                             event_accumulator.IMAGES: 1,
                             event_accumulator.HISTOGRAMS: 1})
  accumulator.Reload()
  tags = accumulator.Tags()
  rows = {}
  for tag in tags.get("tensors", []):
    if tag.startswith(PREFIX):
      rows[tag] = [(e.step, e.wall_time,
                    float(tensor_util.make_ndarray(e.tensor_proto)))
                   for e in accumulator.Tensors(tag)
                   if not e.tensor_proto.tensor_shape.dim]
  for tag in tags.get("scalars", []):
    if tag.startswith(PREFIX):
      rows[tag] = [(e.step, e.wall_time, e.value)
                   for e in accumulator.Scalars(tag)]
  curves = {}
  for tag, points in rows.items():
    if points:
      steps, walls, values = (np.array(c) for c in zip(*sorted(points)))
      curves[tag[len(PREFIX):]] = Curve(tag[len(PREFIX):], steps, values,
                                        walls)
  return curves


def grouped(curves: Dict[str, Curve]) -> Dict[str, List[Curve]]:
  """Non-empty groups, in GROUPS order, each sorted by name."""
  out = {group: [] for group in GROUPS}
  for name in sorted(curves):
    out[group_of(name)].append(curves[name])
  return {group: members for group, members in out.items() if members}


def progress(curves: Dict[str, Curve]) -> Dict[str, Optional[float]]:
  """Last logged step and wall time (first to last event), or None."""
  if not curves:
    return {"steps": None, "wall_time_s": None}
  last = max(int(c.steps[-1]) for c in curves.values())
  first_t = min(float(c.wall_times.min()) for c in curves.values())
  last_t = max(float(c.wall_times.max()) for c in curves.values())
  return {"steps": last, "wall_time_s": last_t - first_t}


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
  """TensorBoard's debiased exponential moving average (weight in [0, 1))."""
  out = np.empty(len(values))
  last, debias = 0.0, 0.0
  for i, value in enumerate(values):
    last = last * weight + (1 - weight) * value
    debias = debias * weight + (1 - weight)
    out[i] = last / debias
  return out
