"""Checkpoints: what is saved, when, and how a run or a tool gets it back.

One `tf.train.Checkpoint` holds both players, both optimizers (including the
loss-scale state under float16) and the step counter, so a resumed run
continues at the same step with identical weights and optimizer moments.
Tools that only need the generator (eval, export, projector) restore it with
`restore_generator`, which checks that every generator weight was found.

Both take the newest checkpoint that reads: a damaged one (a truncated data
file after a crash or a full disk) is named in one warning and skipped for
the next older one. A save that fails leaves no partial checkpoint and
raises `files.WriteError` naming the last good one.
"""

import dataclasses
import os
import re
from typing import Callable, List, Optional, Sequence, Tuple, TypeVar

from absl import logging
import keras
import tensorflow as tf

from s2f_tf import files

T = TypeVar("T")
_PREFIX = "ckpt"  # tf.train.CheckpointManager's default checkpoint_name.
# What a failed checkpoint, summary or SavedModel write raises: the OS's
# error, or TF's for it (ENOSPC is ResourceExhausted, EFBIG OutOfRange).
# Only ever caught around a write, never around a computation.
WRITE_ERRORS = (OSError, tf.errors.OpError)
# What restoring a damaged checkpoint raises: TF's errors, or IndexError
# ("Read less bytes than requested") for a truncated data file.
_UNREADABLE = (tf.errors.OpError, IndexError)


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
                    ema_generator=None, state=None) -> tf.train.Checkpoint:
  """The run's checkpoint; `state` is the task's own (`Task.build_state`:
  e.g. ADA's p), by key."""
  parts = dict(generator=VariablesByPath(generator),
               discriminator=VariablesByPath(discriminator),
               g_opt=VariablesByPath(g_opt), d_opt=VariablesByPath(d_opt),
               step=step)
  if ema_generator is not None:
    parts["generator_ema"] = VariablesByPath(ema_generator)
  clash = sorted(set(parts) & set(state or {}))
  if clash:
    raise ValueError(f"the task's state names {clash[0]!r}, a checkpoint "
                     "key of the players; rename it")
  parts.update(state or {})
  return tf.train.Checkpoint(**parts)


def make_manager(checkpoint: tf.train.Checkpoint, workdir: str,
                 keep: int) -> tf.train.CheckpointManager:
  return tf.train.CheckpointManager(checkpoint, checkpoint_dir(workdir),
                                    max_to_keep=keep)


def save(manager: tf.train.CheckpointManager, step: int) -> str:
  """`manager.save`; a failed write leaves no partial checkpoint behind.

  Raises:
    files.WriteError: naming the checkpoint, the OS error, the free space
      and the last good checkpoint, which is untouched.
  """
  prefix = os.path.join(manager.directory, f"{_PREFIX}-{step}")
  try:
    return manager.save(checkpoint_number=step)
  except WRITE_ERRORS as e:
    # TF writes into ckpt-N_temp/ and merges into ckpt-N.*; whatever got
    # that far goes, so no resume can pick half of it.
    for path in tf.io.gfile.glob(prefix + "_temp*"):
      tf.io.gfile.rmtree(path)
    for path in tf.io.gfile.glob(prefix + ".*"):
      tf.io.gfile.remove(path)
    raise files.WriteError(prefix, e, note="the last good checkpoint is "
                           f"{manager.latest_checkpoint or 'none'}") from None


def saved_checkpoints(directory: str) -> List[str]:
  """Checkpoint prefixes in `directory`, newest first.

  Found by their index files rather than the manager's state file, so a
  damaged or stale state file hides none of them.
  """
  numbered = {}
  for index in tf.io.gfile.glob(os.path.join(directory, f"{_PREFIX}-*.index")):
    prefix = index[:-len(".index")]
    number = prefix.rsplit("-", 1)[1]
    if number.isdigit():
      numbered[prefix] = int(number)
  return sorted(numbered, key=numbered.get, reverse=True)


def _first_readable(paths: Sequence[str], restore: Callable[[str], T],
                    where: str) -> Optional[T]:
  """`restore(path)` for the first of `paths` that reads, warning for each
  that does not; None if there are none.

  Raises:
    ValueError: there are some, and none reads.
  """
  damaged = []
  for path in paths:
    try:
      return restore(path)
    except _UNREADABLE as e:
      logging.warning("Checkpoint %s is unreadable (%s: %s); trying the next "
                      "older one.", path, type(e).__name__,
                      files.reason(e))
      damaged.append(os.path.basename(path))
  if damaged:
    raise ValueError(
        f"no readable checkpoint in {where} (damaged: "
        f"{', '.join(damaged)}); move that folder away to train afresh, or "
        "resume from a copy with s2f-train --restore_from=PATH")
  return None


def restore_latest(checkpoint: tf.train.Checkpoint,
                   manager: tf.train.CheckpointManager,
                   restore_from: Optional[str] = None) -> Optional[str]:
  """Restores the newest readable checkpoint and asserts a full match.

  A damaged checkpoint (a truncated data file, a lost index) is reported
  and skipped for the next older one; `restore_from` names one checkpoint
  to restore instead. Optimizers must be built before this call: Keras
  creates optimizer slots lazily, and a restore into unbuilt optimizers
  silently drops the moments.

  Returns:
    The restored path, or None when there is no checkpoint.
  """
  def restore(path):
    status = checkpoint.restore(path)
    try:
      status.assert_existing_objects_matched()
    except AssertionError as e:
      raise ValueError(
          f"checkpoint {path} does not match the model built from "
          f"config.json (was the config edited after training?): {e}"
      ) from None
    logging.info("Restored %s", path)
    return path
  return _first_readable(_paths(manager.directory, restore_from), restore,
                         restore_from or manager.directory)


def restore_generator(workdir: str,
                      build_generator: Callable[[], keras.Model],
                      checkpoint_path: Optional[str] = None,
                      prefer_ema: bool = True) -> Tuple[keras.Model, int]:
  """`build_generator()` with the weights of `workdir`'s checkpoint.

  Returns (generator, step); the generator holds the EMA weights when the
  run kept them and `prefer_ema`, as samples, evaluation and export want.
  Built under the caller's (float32 by default) policy whatever precision
  training used: serving and evaluation want float32 numerics. Without
  `checkpoint_path`, the newest readable checkpoint, as in training.
  """
  directory = checkpoint_dir(workdir)
  paths = _paths(directory, checkpoint_path)
  if not paths:
    raise FileNotFoundError(
        f"no checkpoint in {directory}: train first with "
        f"s2f-train --workdir={workdir}")
  generator = build_generator()

  def restore(path):
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
  return _first_readable(paths, restore, checkpoint_path or directory)


def _paths(directory: str, chosen: Optional[str]) -> List[str]:
  """What to try, newest first: `chosen` (a checkpoint, or a folder of
  them) if given, else the checkpoints in `directory`."""
  if not chosen:
    return saved_checkpoints(directory)
  return saved_checkpoints(chosen) if tf.io.gfile.isdir(chosen) else [chosen]


# --init_from: which parts of the source checkpoint a selector reads.
_WARM_PARTS = {"generator": ("generator", "generator_ema"),
               "discriminator": ("discriminator",)}


@dataclasses.dataclass(frozen=True)
class WarmStart:
  """What `warm_start` did: the checkpoint read and the variable paths.

  Attributes:
    source: the checkpoint prefix that was read.
    loaded: paths (per part, e.g. "generator_ema:generator/decoder/...")
      whose values were copied.
    skipped: paths the selector chose that were not copied, each with why
      (not in the source, or another shape).
  """

  source: str
  loaded: Tuple[str, ...]
  skipped: Tuple[str, ...]

  def summary(self) -> str:
    """One line for the log: counts, and the first few skipped."""
    line = (f"--init_from: loaded {len(self.loaded)} variables from "
            f"{self.source}, skipped {len(self.skipped)}")
    if self.skipped:
      shown = "; ".join(self.skipped[:3])
      more = (f"; and {len(self.skipped) - 3} more"
              if len(self.skipped) > 3 else "")
      line += f" ({shown}{more})"
    return line


def parse_init_from(text: str) -> Tuple[str, str]:
  """'RUN[:SELECTOR]' -> (RUN, SELECTOR); SELECTOR '' means both players.

  RUN is a workdir, a folder of checkpoints or one checkpoint prefix;
  SELECTOR is `generator`, `discriminator` or a variable path prefix such as
  `generator/global/` (the paths `tf.train.list_variables` shows, with
  `.S` read as `/`).
  """
  run, _, selector = text.partition(":")
  return run, selector


def _unescape(key: str) -> str:
  """A checkpoint key's dict key back to the variable path (TF writes '/'
  as '.S' and '.' as '..')."""
  return re.sub(r"\.([S.])", lambda m: "/" if m.group(1) == "S" else ".",
                key)


def _saved_paths(reader) -> dict:
  """(part, variable path) -> key, for the VariablesByPath parts."""
  saved = {}
  for key in reader.get_variable_to_shape_map():
    fields = key.split("/")
    if len(fields) == 5 and fields[1] == "by_path":
      saved[(fields[0], _unescape(fields[2]))] = key
  return saved


def _source_checkpoint(run: str) -> str:
  """The newest readable checkpoint of `run` (workdir, folder or prefix)."""
  folder = checkpoint_dir(run)
  where = folder if tf.io.gfile.isdir(folder) else run
  paths = _paths(where, None if where == folder else run)
  if paths == [run] and not tf.io.gfile.exists(run + ".index"):
    paths = []  # Neither a folder nor a checkpoint prefix.
  if not paths:
    raise FileNotFoundError(
        f"--init_from={run!r} holds no checkpoint; name an s2f-train workdir, "
        "a folder of checkpoints or a checkpoint prefix (path/ckpt-N)")

  def readable(path):
    tf.train.load_checkpoint(path)
    return path
  return _first_readable(paths, readable, where)


def warm_start(init_from: str, parts: dict) -> WarmStart:
  """Copies matching variables of another run into this one's `parts`.

  Partial warm start (big_vision's `model_init` + `load`): fine-tuning, or
  coarse-to-fine training that starts a larger model from a smaller run's
  generator. Only weights move, never optimizer moments or the step: the
  run starts at step 0 with fresh optimizers. A variable is copied when its
  part (generator, its EMA copy, discriminator) and Keras path match the
  source's and the shapes agree; everything else keeps its fresh value and
  is reported as skipped. A generator's EMA copy reads the source's EMA when
  it has one, else its generator.

  Args:
    init_from: 'RUN[:SELECTOR]', see `parse_init_from`.
    parts: part name ("generator", "generator_ema", "discriminator") ->
      the model whose variables may be overwritten.

  Raises:
    FileNotFoundError: RUN holds no checkpoint.
    ValueError: nothing matched (a selector naming no variable, or another
      family's run), so the run would silently start from scratch.
  """
  run, selector = parse_init_from(init_from)
  source = _source_checkpoint(run)
  reader = tf.train.load_checkpoint(source)
  saved = _saved_paths(reader)
  wanted = _WARM_PARTS.get(selector, tuple(parts))
  loaded, skipped = [], []
  for part in wanted:
    if part not in parts:
      continue
    source_part = part
    if part == "generator_ema" and not any(p == part for p, _ in saved):
      source_part = "generator"
    for variable in parts[part].variables:
      path = variable.path
      if selector not in _WARM_PARTS and not path.startswith(selector):
        continue
      key = saved.get((source_part, path))
      if key is None:
        skipped.append(f"{part}:{path} not in the source")
        continue
      value = reader.get_tensor(key)
      if tuple(value.shape) != tuple(variable.shape):
        skipped.append(f"{part}:{path} is {list(variable.shape)} here, "
                       f"{list(value.shape)} there")
        continue
      variable.assign(value)
      loaded.append(f"{part}:{path}")
  if not loaded:
    raise ValueError(
        f"--init_from={init_from!r} matched no variable of this run in "
        f"{source} ({len(skipped)} chosen, none found with the same path "
        "and shape); check the selector (generator, discriminator or a "
        "path prefix such as generator/global/) against "
        "tf.train.list_variables")
  result = WarmStart(source, tuple(loaded), tuple(skipped))
  logging.info(result.summary())
  return result
