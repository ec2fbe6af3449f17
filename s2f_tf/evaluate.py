"""The one evaluation path: the loop's evaluations and `s2f-eval` run it.

`--metrics` chooses what is measured. psnr/ssim run the task's own metrics
(`Task.evaluate`); swd, fid and kid compare the task's real and generated
images (`Task.eval_image_batches`, streamed) with `s2f_tf.metrics`. This
module runs them with the run's sampler and writes the results where every
tool reads them: `workdir/eval.json`, TensorBoard scalars under `eval/` and
the run's HParams record (`s2f_tf.hparams`).
`s2f-eval` restores the same weights, seed and sampler as the end of
training, so it reproduces the end-of-training numbers exactly.
"""

import dataclasses
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
from s2f_tf.metrics import distribution
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
  """`t.metrics` of `count` examples: the task's own, then SWD/FID/KID.

  A distribution metric that cannot run (no --inception, a wrong file, too
  few images for KID) is one warning line; the others still run.
  """
  names = config_lib.metric_names(t.metrics)
  results = {}
  if {"psnr", "ssim"} & set(names):
    results.update(task.evaluate(sample, count))
  wanted = tuple(m for m in names if m in distribution.METRICS)
  if wanted:
    options = distribution.Options(
        metrics=wanted, inception=t.inception or None,
        kid_subset_size=t.kid_subset_size, seed=t.seed)
    batches = task.eval_image_batches(sample, count, t.batch_size)
    results.update(distribution.evaluate(batches, options, logging.warning))
  return results


def evaluate_workdir(workdir: str, max_examples: Optional[int] = None,
                     **overrides) -> Dict:
  """`s2f-eval`: restores the run's generator and evaluates it.

  `overrides` replace evaluation fields of the run's TrainConfig (e.g.
  metrics, inception) for this evaluation only.
  """
  task, generator, step = tasks.restore(workdir)
  # Same global seed and compiled sampler as the end-of-training evaluation.
  keras.utils.set_random_seed(task.config.train.seed)
  return evaluate_run(task, task.make_sampler(generator), step, workdir,
                      max_examples, settings=dataclasses.replace(
                          task.config.train, **overrides))


def flat_scalars(results: Dict) -> Dict[str, float]:
  """'model/psnr' style names for TensorBoard."""
  out = {}
  for key, value in results.items():
    if isinstance(value, dict):
      out.update({f"{key}/{k}": v for k, v in value.items()})
    else:
      out[key] = value
  return out


def write_results(results: Dict, workdir: str) -> str:
  return files.write_atomically(os.path.join(workdir, "eval.json"),
                                json.dumps(results, indent=2, sort_keys=True))
