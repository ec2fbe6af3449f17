"""The tf.distribute strategy a run uses, chosen by `--strategy`.

The trainer is written against the strategy API throughout (variables under
`strategy.scope()`, steps through `strategy.run`, global batch), so one GPU,
several GPUs and several machines run the same code. What differs between
workers lives here: which worker is the chief, which slice of each batch a
worker sees, its random seed, and who keeps checkpoint files. See
docs/distributed.md.
"""

import os
import tempfile

import tensorflow as tf

from s2f_tf import checkpointing


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


def worker_rank(strategy: tf.distribute.Strategy) -> int:
  """0 for the chief, 1, 2, ... for the other workers; 0 without a cluster.

  The chief is the "chief" task if TF_CONFIG names one, else worker 0.
  """
  return _rank(getattr(strategy, "cluster_resolver", None))


def _rank(resolver) -> int:
  if resolver is None or not resolver.task_type:
    return 0
  after_chief = (resolver.task_type == "worker" and
                 "chief" in resolver.cluster_spec().jobs)
  return resolver.task_id + int(after_chief)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Only the chief writes checkpoints, summaries and samples."""
  return worker_rank(strategy) == 0


def is_chief_process(strategy_name: str) -> bool:
  """`is_chief` before the strategy exists, e.g. to lock the workdir first:
  building a multi-worker strategy waits for every worker."""
  if strategy_name != "multiworker":
    return True
  return _rank(tf.distribute.cluster_resolver.TFConfigClusterResolver()) == 0


def seed_workers_apart(strategy: tf.distribute.Strategy, seed: int) -> None:
  """Gives every worker its own stream for the random ops of the steps.

  Each worker traces the same step graph under the same global seed, so the
  DCGAN noise, the WGAN-GP interpolates and the "random" style source would
  otherwise repeat on every worker (replicas within a worker already
  differ). Call after the dataset and models are built: the dataset's
  shuffle must stay the same everywhere for DATA sharding, and so must the
  initial weights.
  """
  rank = worker_rank(strategy)
  if rank:
    tf.random.set_seed(seed + rank)


def distribute_dataset(strategy: tf.distribute.Strategy,
                       dataset: tf.data.Dataset,
                       global_batch_size: int):
  """Splits every global batch of `dataset` evenly across all replicas.

  The steps divide each replica's mean loss by the replica count, which is
  the global mean only if every replica gets the same number of examples.
  The episode pipeline starts from in-memory tensors, not files, so it is
  sharded by DATA: every worker builds the same global batches (same seed)
  and keeps only its replicas' slices of each. Each worker thus pays for the
  whole input pipeline (in-memory gathers, cheap next to the step), and the
  replicas together see exactly the batch a single device would.

  Raises:
    ValueError: the global batch does not split evenly.
  """
  replicas = strategy.num_replicas_in_sync
  if global_batch_size % replicas:
    raise ValueError(
        f"--batch_size={global_batch_size} is the global batch and must split "
        f"evenly over the {replicas} replicas; use a multiple of {replicas}")
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.DATA)
  return strategy.experimental_distribute_dataset(
      dataset.with_options(options))


def save_checkpoint(strategy: tf.distribute.Strategy,
                    manager: tf.train.CheckpointManager, step: int) -> None:
  """Saves on every worker; only the chief's files are kept.

  Under MultiWorkerMirroredStrategy saving may run collective ops (reading
  sync-on-read variables), so every worker must save at the same steps or
  the others hang. Workers other than the chief write to a temporary
  directory and delete it, so the shared workdir holds one checkpoint.
  """
  if is_chief(strategy):
    checkpointing.save(manager, step)
    return
  scratch = tempfile.mkdtemp(prefix="s2f_worker_ckpt_")
  try:
    manager.checkpoint.write(os.path.join(scratch, f"ckpt-{step}"))
  finally:
    tf.io.gfile.rmtree(scratch)
