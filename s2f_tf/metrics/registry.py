"""Stream evaluators by name: what `--metrics` can ask of every task.

As big_vision picks its evaluators by name from the config, a run's
`--metrics` names what to measure, from two kinds:
  stream evaluators  registered here; each compares (real, generated) uint8
                     batches and runs on every stream the task returns
                     (`Task.eval_streams`): swd, fid, kid
  a task's measures  declared by the task (`Task.measures`) and computed by
                     its `evaluate` against its own targets (e.g. few-shot's
                     psnr and ssim)
`s2f_tf.tasks` joins the two into a task's choices; a name means one thing
in both. `register` adds a stream evaluator (a plug-in, a test).
"""

import dataclasses
import logging
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

import numpy as np

from s2f_tf.metrics import distribution

Log = Callable[[str], None]
# The settings every stream evaluator receives; `metrics` holds the names
# the run asked of that evaluator.
Options = distribution.Options
# An empty --metrics asks for the task's measures and these.
DEFAULTS = ("swd",)


@dataclasses.dataclass(frozen=True)
class StreamEvaluator:
  """One registered name.

  Attributes:
    description: one line, what it measures (docs and error messages).
    open: (options, log) -> an accumulator with `update(real, fake)` and
      `results() -> Dict` (each value a float or a dict of floats). Names
      registered with the same `open` share one accumulator per stream, so
      FID and KID read one Inception pass.
  """

  description: str
  open: Callable[[Options, Log], object]


_EVALUATORS: Dict[str, StreamEvaluator] = {}


def register(name: str, description: str,
             open_fn: Callable[[Options, Log], object]) -> None:
  """Makes `--metrics=name` run `open_fn`'s accumulator on every stream."""
  if name in _EVALUATORS:
    raise ValueError(f"metric {name!r} is already registered")
  _EVALUATORS[name] = StreamEvaluator(description, open_fn)


def stream_metrics() -> Dict[str, str]:
  """Registered stream evaluators: name -> description."""
  return {name: e.description for name, e in _EVALUATORS.items()}


def _groups(names: Sequence[str]) -> List[Tuple[Callable, Tuple[str, ...]]]:
  """(open, the names it computes), in the order first asked."""
  groups = {}
  for name in names:
    groups.setdefault(_EVALUATORS[name].open, []).append(name)
  return [(open_fn, tuple(group)) for open_fn, group in groups.items()]


def evaluate_stream(batches: Iterable[Tuple[np.ndarray, np.ndarray]],
                    options: Options, log: Log = logging.warning) -> Dict:
  """`options.metrics` (registered names) of one stream, read once.

  Every evaluator sees each batch as it comes, so the stream is never held
  in memory.
  """
  unknown = sorted(set(options.metrics) - set(_EVALUATORS))
  if unknown:
    raise ValueError(f"unknown stream metrics {unknown}; registered: "
                     f"{', '.join(_EVALUATORS)}")
  accumulators = [open_fn(dataclasses.replace(options, metrics=group), log)
                  for open_fn, group in _groups(options.metrics)]
  for real, fake in batches:
    for accumulator in accumulators:
      accumulator.update(real, fake)
  results = {}
  for accumulator in accumulators:
    results.update(accumulator.results())
  return results


register("swd", "sliced Wasserstein distance x1e3 of Laplacian-pyramid "
         "patches, per level and averaged", distribution.Accumulator)
register("fid", "Frechet Inception Distance (needs --inception)",
         distribution.Accumulator)
register("kid", "Kernel Inception Distance (needs --inception and "
         "--kid_subset_size images)", distribution.Accumulator)
