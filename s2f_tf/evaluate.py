"""The one evaluation path: the loop's evaluations and `s2f-eval` run it.

What is measured belongs to the task (`Task.evaluate`); this module runs it
with the run's sampler and writes the results where every tool reads them:
`workdir/eval.json` and TensorBoard scalars under `eval/`. `s2f-eval`
restores the same weights, seed and sampler as the end of training, so it
reproduces the end-of-training numbers exactly.
"""

import json
import os
from typing import Dict, Optional

from absl import logging
import keras
import tensorflow as tf

from s2f_tf import summaries
from s2f_tf import tasks
from s2f_tf.tasks import base


def evaluate_run(task: base.Task, sample: base.Sampler, step: int,
                 workdir: str, max_examples: Optional[int] = None,
                 writer=None) -> Dict:
  """Runs the task's metrics with `sample` and writes them; returns them.

  Args:
    task: the run's task.
    sample: its sampler (the EMA generator's, when the run keeps one).
    step: the training step the weights come from.
    workdir: where eval.json goes.
    max_examples: examples to score; default: the config's eval_episodes.
    writer: TensorBoard writer for the `eval/` scalars; default: a writer
      on `workdir/eval`.
  """
  results = task.evaluate(
      sample, max_examples or task.config.train.eval_episodes)
  if not results:
    logging.info("--task=%s has no evaluation metrics", task.config.model.task)
    return results
  results["step"] = step
  scalars = flat_scalars(results)
  writer = writer or tf.summary.create_file_writer(
      os.path.join(workdir, "eval"))
  summaries.write_scalars(writer, step, scalars, "eval/")
  writer.flush()
  write_results(results, workdir)
  logging.info("eval at step %d: %s", step, ", ".join(
      f"{name} {value:.4g}" for name, value in sorted(scalars.items())))
  return results


def evaluate_workdir(workdir: str, max_examples: Optional[int] = None) -> Dict:
  """`s2f-eval`: restores the run's generator and evaluates it."""
  task, generator, step = tasks.restore(workdir)
  # Same global seed and compiled sampler as the end-of-training evaluation.
  keras.utils.set_random_seed(task.config.train.seed)
  return evaluate_run(task, task.make_sampler(generator), step, workdir,
                      max_examples)


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
  path = os.path.join(workdir, "eval.json")
  with open(path, "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  return path
