"""The one evaluation path: the loop's evaluations and `s2f-eval` run it.

`--metrics` names what is measured, each name looked up once: the task's
own measures (`Task.measures`, run by `Task.evaluate`) and the registered
stream evaluators (`s2f_tf.metrics.registry`: swd, fid, kid), which run on
each of the task's (real, generated) streams (`Task.eval_streams`), one
stream after another. A task's only stream (named "") writes at the top of
the results, any other under its name: {"a2b": {"swd": ...}}. This module
runs them with the run's sampler and writes the results where every tool
reads them: `workdir/eval.json`, TensorBoard scalars under `eval/` (nested
names joined by "/": `eval/a2b/swd/x1e3_avg`) and the run's HParams record
(`s2f_tf.hparams`).
`s2f-eval` restores the same weights, seed and sampler as the end of
training, so it reproduces the end-of-training numbers exactly.
"""

import dataclasses
import hashlib
import json
import os
from typing import Dict, Optional

from absl import logging
import keras
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import files
from s2f_tf import hparams
from s2f_tf import summaries
from s2f_tf import tasks
from s2f_tf.metrics import registry
from s2f_tf.tasks import base


def evaluate_run(task: base.Task, sample: base.Sampler, step: int,
                 workdir: str, max_examples: Optional[int] = None,
                 writer=None,
                 settings: Optional[config_lib.TrainConfig] = None) -> Dict:
  """Runs the task's metrics with `sample` and writes them; returns them.

  Args:
    task: the run's task.
    sample: its sampler (the EMA generator's, when the run keeps one).
    step: the training step the weights come from.
    workdir: where eval.json goes.
    max_examples: examples to score; default: the config's eval_episodes.
    writer: TensorBoard writer for the `eval/` scalars; default: a writer
      on `workdir/eval`.
    settings: the evaluation fields (metrics, inception, eval_episodes, ...);
      default: the run's, `task.config.train`.
  """
  settings = settings or task.config.train
  results = measure(task, sample, max_examples or settings.eval_episodes,
                    settings)
  if not results:
    logging.info("--task=%s has none of --metrics=%s", task.config.model.task,
                 settings.metrics)
    return results
  results["step"] = step
  scalars = flat_scalars(results)
  writer = writer or tf.summary.create_file_writer(
      os.path.join(workdir, "eval"))
  with files.writing(workdir, checkpointing.WRITE_ERRORS):  # TensorBoard.
    summaries.write_scalars(writer, step, scalars, "eval/")
    writer.flush()
    hparams.write_hparams(workdir, task.config, scalars, step)
  write_results(results, workdir)
  logging.info("eval at step %d: %s", step, ", ".join(
      f"{name} {value:.4g}" for name, value in sorted(scalars.items())))
  return results


def measure(task: base.Task, sample: base.Sampler, count: int,
            t: config_lib.TrainConfig) -> Dict:
  """`t.metrics` of `count` examples: the task's own, then each stream's.

  Empty `t.metrics` means the task's defaults. A name the task does not
  offer (a config.json from before the name moved) is one info line; a
  stream metric that cannot run (no --inception, a wrong file, too few
  images for KID) is one warning line; the others still run.
  """
  names = (config_lib.metric_names(t.metrics) or
           task.default_metrics(task.config))
  own = task.measures(task.config)
  streamed = registry.stream_metrics()
  absent = [m for m in names if m not in own and m not in streamed]
  if absent:
    logging.info("--task=%s offers no %s; skipped", task.config.model.task,
                 ",".join(absent))
  results = {}
  if any(m in own for m in names):
    results.update(task.evaluate(sample, count,
                                 [m for m in names if m in own]))
  wanted = tuple(m for m in names if m in streamed)
  if not wanted:
    return results
  options = registry.Options(
      metrics=wanted, inception=t.inception or None,
      kid_subset_size=t.kid_subset_size, kid_protocol=t.kid_protocol,
      seed=t.seed)
  streams = task.eval_streams(sample, count, t.batch_size)
  for name, batches in streams.items():  # One stream at a time.
    cache = (real_features_cache(task.config, t, count, name)
             if t.cache_real_features and t.inception else None)
    scores = registry.evaluate_stream(
        batches, dataclasses.replace(options, real_features_cache=cache),
        logging.warning)
    if name == base.DEFAULT_STREAM:
      results.update(scores)
    elif name in results:
      raise ValueError(f"--task={task.config.model.task}'s stream {name!r} "
                       "has the name of one of its measures; rename it")
    else:
      results[name] = scores
  return results


def real_features_cache(config: config_lib.Config,
                        settings: config_lib.TrainConfig, count: int,
                        stream: str) -> str:
  """Where one stream's real-image Inception features are cached.

  The key is everything that picks the real images or their features: the
  task and its data and family settings (the data root by its real path),
  the image count, batch size and seed, the stream's name, and the
  Inception file by its real path, size and modification time. Replacing
  the images under the same root with the same settings is the one change
  it cannot see: --nocache_real_features, or delete the folder.
  """
  data = dataclasses.asdict(config.data)
  data["root"] = os.path.realpath(data["root"])
  stat = os.stat(settings.inception)
  key = json.dumps({
      "task": config.model.task, "data": data,
      "family": dataclasses.asdict(config.family), "count": count,
      "batch_size": settings.batch_size, "seed": settings.seed,
      "stream": stream,
      "inception": [os.path.realpath(settings.inception), stat.st_size,
                    stat.st_mtime_ns]}, sort_keys=True, default=str)
  digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
  return os.path.join(files.user_cache_dir(), "real_features",
                      f"{digest}.npz")


def evaluate_workdir(workdir: str, max_examples: Optional[int] = None,
                     **overrides) -> Dict:
  """`s2f-eval`: restores the run's generator and evaluates it.

  `overrides` replace evaluation fields of the run's TrainConfig (e.g.
  metrics, inception) for this evaluation only.
  """
  task, generator, step = tasks.restore(workdir)
  settings = dataclasses.replace(task.config.train, **overrides)
  if {"metrics", "inception"} & set(overrides):
    # The run's own were checked when it started; the file may have moved
    # since, so FID/KID are checked again whenever s2f-eval names either.
    tasks.check_metrics(dataclasses.replace(task.config, train=settings))
  # Same global seed and compiled sampler as the end-of-training evaluation.
  keras.utils.set_random_seed(task.config.train.seed)
  return evaluate_run(task, task.make_sampler(generator), step, workdir,
                      max_examples, settings=settings)


def flat_scalars(results: Dict, prefix: str = "") -> Dict[str, float]:
  """'model/psnr', 'a2b/swd/x1e3_avg' style names for TensorBoard."""
  out = {}
  for key, value in results.items():
    if isinstance(value, dict):
      out.update(flat_scalars(value, f"{prefix}{key}/"))
    else:
      out[prefix + key] = value
  return out


def write_results(results: Dict, workdir: str) -> str:
  return files.write_atomically(os.path.join(workdir, "eval.json"),
                                json.dumps(results, indent=2, sort_keys=True))
