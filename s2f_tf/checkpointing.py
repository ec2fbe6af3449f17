"""Checkpoints: what is saved, when, and how a run or a tool gets it back.

One `tf.train.Checkpoint` holds both players, both optimizers (including the
loss-scale state under float16) and the step counter, so a resumed run
continues at the same step with identical weights and optimizer moments.
Tools that only need the generator (eval, export, projector) restore it with
`restore_generator`, which checks that every generator weight was found.
"""

import os
from typing import Callable, Optional, Tuple

from absl import logging
import keras
import tensorflow as tf

from s2f_tf import config as config_lib


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(workdir, "checkpoints")


class VariablesByPath(tf.Module):
  """A model's or optimizer's variables, saved under their Keras paths.

  tf.train.Checkpoint does not see layers that Keras 3 keeps in Python lists
  (they are not TF trackables), so checkpointing the model object would
  silently skip them. Keying every variable by its path ("generator/decoder/
  res_block_0/adalin_1/rho") saves all of them, and a restore that misses one
  fails `assert_existing_objects_matched` with that path.
  """

  def __init__(self, owner):
    super().__init__()
    self.by_path = {v.path: v for v in owner.variables}
    if len(self.by_path) != len(owner.variables):
      raise ValueError(f"{owner.name} has variables with duplicate paths")


def make_checkpoint(generator, discriminator, g_opt, d_opt, step: tf.Variable,
                    ema_generator=None) -> tf.train.Checkpoint:
  parts = dict(generator=VariablesByPath(generator),
               discriminator=VariablesByPath(discriminator),
               g_opt=VariablesByPath(g_opt), d_opt=VariablesByPath(d_opt),
               step=step)
  if ema_generator is not None:
    parts["generator_ema"] = VariablesByPath(ema_generator)
  return tf.train.Checkpoint(**parts)


def make_manager(checkpoint: tf.train.Checkpoint, workdir: str,
                 keep: int) -> tf.train.CheckpointManager:
  return tf.train.CheckpointManager(checkpoint, checkpoint_dir(workdir),
                                    max_to_keep=keep)


def restore_latest(checkpoint: tf.train.Checkpoint,
                   manager: tf.train.CheckpointManager) -> Optional[str]:
  """Restores the newest checkpoint, if any, and asserts a full match.

  Optimizers must be built before this call: Keras creates optimizer slots
  lazily, and a restore into unbuilt optimizers silently drops the moments.
  """
  path = manager.latest_checkpoint
  if path is None:
    return None
  status = checkpoint.restore(path)
  try:
    status.assert_existing_objects_matched()
  except AssertionError as e:
    raise ValueError(
        f"checkpoint {path} does not match the model built from config.json "
        f"(was the config edited after training?): {e}") from None
  logging.info("Restored %s", path)
  return path


def restore_generator(workdir: str,
                      build_generator: Callable[[], keras.Model],
                      checkpoint_path: Optional[str] = None,
                      prefer_ema: bool = True) -> Tuple[keras.Model, int]:
  """`build_generator()` with the weights of `workdir`'s checkpoint.

  Returns (generator, step); the generator holds the EMA weights when the
  run kept them and `prefer_ema`, as samples, evaluation and export want.
  Built under the caller's (float32 by default) policy whatever precision
  training used: serving and evaluation want float32 numerics.
  """
  path = checkpoint_path or tf.train.latest_checkpoint(checkpoint_dir(workdir))
  if path is None:
    raise FileNotFoundError(
        f"no checkpoint in {checkpoint_dir(workdir)}: train first with "
        f"s2f-train --workdir={workdir}")
  generator = build_generator()
  saved = {name.split("/")[0] for name, _ in tf.train.list_variables(path)}
  key = ("generator_ema" if prefer_ema and "generator_ema" in saved
         else "generator")
  step = tf.Variable(0, dtype=tf.int64)
  status = tf.train.Checkpoint(**{key: VariablesByPath(generator)},
                               step=step).restore(path)
  status.expect_partial()  # The discriminator and optimizers are not wanted.
  try:
    status.assert_existing_objects_matched()
  except AssertionError as e:
    raise ValueError(f"checkpoint {path} lacks {key} weights: {e}") from None
  logging.info("Restored %s from %s (step %d)", key, path, int(step.numpy()))
  return generator, int(step.numpy())
