"""The tf.distribute strategy a run uses, chosen by `--strategy`.

The trainer is written against the strategy API throughout (variables under
`strategy.scope()`, steps through `strategy.run`, global batch), so one GPU,
several GPUs and several machines run the same code.
"""

import tensorflow as tf


def make_strategy(name: str) -> tf.distribute.Strategy:
  """default: no distribution; mirrored: all local GPUs (or the CPU);
  multiworker: MultiWorkerMirroredStrategy configured by TF_CONFIG."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multiworker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(f"unknown strategy {name!r}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Only the chief writes checkpoints, summaries and samples."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (
      resolver.task_type == "worker" and resolver.task_id == 0)
