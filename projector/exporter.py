"""Writes embeddings where TensorBoard's Embedding Projector finds them fast.

One call exports one named embedding into `logdir`:

  logdir/
    projector_config.pbtxt        every embedding of this folder, merged
    events.out.tfevents.*.projector  empty; makes the folder a TensorBoard run
    <name>/tensor.bin             raw float32 [N, D] (or tensor.tsv, see below)
    <name>/metadata.tsv           labels, one row per point
    <name>/sprite.jpg             thumbnails, see `projector.sprite`

Facts about TensorBoard 2.21 (tensorboard/plugins/projector/
projector_plugin.py) that shape this layout:
  * A folder is a run only if it holds an events file (`list_runs`, l. 345);
    the logdir itself is always tried as run "." (l. 360). Hence the events
    file: `tensorboard --logdir` may point here or at any parent.
  * Paths in the config are resolved against the config's own folder and
    rejected if they leave it (`_rel_to_abs_asset_path`, l. 212).
  * The tensor file is parsed as TSV first and read as raw float32 with
    `tensor_shape` only when a line fails to decode as UTF-8 (l. 142-156,
    l. 692-697). For 10,000 x 4,096 raw takes 0.04 s to write and 0.2 s for
    TensorBoard to load; TSV 10 s and 11 s (tools/bench_projector.py). But
    raw's first non-empty line must not be valid UTF-8, or float() raises
    ValueError and /tensor answers HTTP 500 (always for all-zero data, ~0.4%
    of random data); such embeddings are written as TSV, which is exact:
    9 significant digits round-trip float32.
  * A TF checkpoint in the folder or its parent adds every 2-D variable in it
    as an extra embedding (l. 468-475, 407-435); export next to, not into, a
    checkpoint directory (workdir/projector is fine: ours are in
    workdir/checkpoints).
  * The frontend loads at most 100,000 points (`num_rows=1e5`) and treats the
    first metadata line as a header iff it contains a tab.
Restart TensorBoard after re-exporting: it caches configs and tensors.
"""

import dataclasses
import io
import os
import re
import socket
import time
from typing import Mapping, Optional, Sequence, Tuple, Union

from absl import logging
from google.protobuf import text_format
import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.projector import projector_config_pb2
from tensorboard.summary.writer import record_writer

from projector import sprite as sprite_lib
from s2f_tf import files

CONFIG_FILENAME = "projector_config.pbtxt"  # Fixed by the plugin.
MIN_POINTS = 4  # PCA and t-SNE in the projector need N and D over 3.
MIN_DIMS = 4
FRONTEND_MAX_POINTS = 100_000
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_OUTPUTS = ("tensor.bin", "tensor.tsv", "metadata.tsv", "sprite.jpg")

Metadata = Union[Sequence, Mapping[str, Sequence]]


@dataclasses.dataclass(frozen=True)
class Exported:
  """What one `export_embeddings` call wrote (absolute paths)."""

  name: str
  shape: Tuple[int, int]  # [N, D] as stored.
  config_path: str
  tensor_path: str
  tensor_format: str  # "float32" (raw) or "tsv".
  metadata_path: Optional[str]
  sprite_path: Optional[str]
  sprite_tile: Optional[int]  # Pixels a side of one thumbnail.


def export_embeddings(logdir: str, embeddings,
                      metadata: Optional[Metadata] = None, images=None,
                      name: str = "embedding", *,
                      sprite_tile: Optional[int] = None,
                      image_range: Tuple[float, float] = (-1.0, 1.0)
                      ) -> Exported:
  """Exports one embedding for the projector, keeping others in `logdir`.

  Everything is validated before the first byte is written.

  Args:
    logdir: folder to write into; created if missing.
    embeddings: [N, D], or [N, H, W, C] (any rank >= 2) flattened row-major to
      [N, H*W*C]; numeric, finite in float32. N >= 4 and D >= 4.
    metadata: one label per point (one column, no header), or a mapping
      column name -> N values (a header row when there are several columns).
      Tabs, line breaks and other control characters inside values become
      spaces.
    images: one thumbnail per point for the sprite: [N, H, W(, 1 or 3)], uint8
      in [0, 255] or floats in `image_range`.
    name: the tensor's name in the projector and its folder under `logdir`.
    sprite_tile: thumbnail size in px; None picks the largest that fits.
    image_range: value range of float images: (-1, 1) for tanh outputs and our
      data pipeline, (0, 1) for most others.

  Returns:
    An `Exported` describing the files.

  Raises:
    ValueError: with the problem and its fix, for any invalid input.
  """
  _check_name(name)
  points = flatten_points(embeddings, name)
  n = points.shape[0]
  lines = None if metadata is None else metadata_lines(metadata, n)
  tile = None
  if images is not None:
    images = sprite_lib.check_images(images, n, image_range)
    tile = sprite_lib.choose_tile(n, max(images.shape[1:3]), sprite_tile)

  folder = os.path.join(logdir, name)
  os.makedirs(folder, exist_ok=True)
  info = projector_config_pb2.EmbeddingInfo(tensor_name=name,
                                            tensor_shape=points.shape)
  info.tensor_path, tensor_format = _write_tensor(folder, points)
  written = [os.path.basename(info.tensor_path)]
  if lines is not None:
    info.metadata_path = f"{name}/metadata.tsv"
    files.write_atomically(os.path.join(logdir, info.metadata_path),
                      "".join(line + "\n" for line in lines).encode("utf-8"))
    written.append("metadata.tsv")
  if images is not None:
    sheet = sprite_lib.build_sprite(images, tile, image_range)
    info.sprite.image_path = f"{name}/sprite.jpg"
    info.sprite.single_image_dim.extend([tile, tile])  # [width, height].
    files.write_atomically(os.path.join(logdir, info.sprite.image_path),
                      sprite_lib.encode_sprite(sheet))
    written.append("sprite.jpg")
  _remove_stale(folder, written)
  config_path = _merge_config(logdir, info)
  _ensure_events_file(logdir)
  _warn_about_pitfalls(logdir, n)
  return Exported(name=name, shape=points.shape, config_path=config_path,
                  tensor_path=_absolute(logdir, info.tensor_path),
                  tensor_format=tensor_format,
                  metadata_path=_absolute(logdir, info.metadata_path),
                  sprite_path=_absolute(logdir, info.sprite.image_path),
                  sprite_tile=tile)


def _absolute(logdir: str, relative: str) -> Optional[str]:
  return os.path.abspath(os.path.join(logdir, relative)) if relative else None


def _check_name(name: str) -> None:
  # The name is a folder, a URL query value, and TensorBoard strips ":0".
  if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
    raise ValueError(
        f"name={name!r} is not usable; use letters, digits, '_', '-' or '.', "
        f"starting with a letter or digit, e.g. 'style' or 'content'.")


def flatten_points(embeddings, name: str = "embedding") -> np.ndarray:
  """Returns C-contiguous float32 [N, D] = `embeddings.reshape(N, -1)`.

  Raises:
    ValueError: on rank < 2, non-numeric values, N < 4, D < 4, NaN or Inf.
  """
  array = np.asarray(embeddings)
  if array.ndim < 2 or array.dtype.kind not in "biuf":
    raise ValueError(
        f"embeddings {name!r} have shape {array.shape} and dtype "
        f"{array.dtype}; pass numbers as [N, D] points or [N, H, W, C] "
        f"feature maps (flattened row-major to [N, H*W*C]).")
  points = np.ascontiguousarray(array.reshape(array.shape[0], -1), np.float32)
  n, d = points.shape
  if n < MIN_POINTS:
    raise ValueError(
        f"embeddings {name!r} have {n} points (shape {array.shape}); the "
        f"projector's PCA and t-SNE need at least {MIN_POINTS}: export more "
        f"samples.")
  if d < MIN_DIMS:
    raise ValueError(
        f"embeddings {name!r} have {d} values per point (shape "
        f"{array.shape}); the projector's PCA and t-SNE need at least "
        f"{MIN_DIMS}: export a wider feature, e.g. the unpooled feature map.")
  bad = ~np.isfinite(points)
  if bad.any():
    rows = np.flatnonzero(bad.any(axis=1))
    raise ValueError(
        f"embeddings {name!r} have {int(bad.sum())} NaN/Inf values in float32 "
        f"in {rows.size} rows (first: row {rows[0]}); fix the model output or "
        f"drop those rows together with their metadata and images.")
  return points


def metadata_lines(metadata: Metadata, n: int) -> Sequence[str]:
  """Returns metadata.tsv lines: a header row only for several columns.

  The frontend takes the first line as a header iff it contains a tab, and
  skips blank lines (which would shift every later label), so blank rows and
  bad column names are errors.
  """
  if isinstance(metadata, Mapping):
    names = [_clean(key) for key in metadata]
    columns = [list(values) for values in metadata.values()]
    if not names or len(set(names)) != len(names) or not all(
        name.strip() for name in names):
      raise ValueError(
          f"metadata columns {names} must be non-empty and unique; name each "
          f"column, e.g. {{'identity': ids, 'split': splits}}.")
  elif np.ndim(metadata) == 1:
    names, columns = ["metadata"], [list(metadata)]
  else:
    raise ValueError(
        f"metadata of shape {np.shape(metadata)}; pass one label per point, "
        f"or a mapping from column name to one value per point.")
  for column_name, column in zip(names, columns):
    if len(column) != n:
      raise ValueError(
          f"metadata column {column_name!r} has {len(column)} rows for {n} "
          f"points; pass one value per point, in the embeddings' order.")
  rows = ["\t".join(_clean(value) for value in row) for row in zip(*columns)]
  blank = [i for i, row in enumerate(rows) if not row.strip()]
  if blank:
    raise ValueError(
        f"metadata rows {blank[:5]} are blank; the projector skips blank "
        f"lines and would shift later labels: use a placeholder like 'none'.")
  return ["\t".join(names)] + rows if len(columns) > 1 else rows


def _clean(value) -> str:
  # Values may come from user files (an identity list): a tab would shift
  # the columns of its row, any line break (including the ones Python's and
  # other readers' splitlines honour) would shift every later row.
  return _BREAKS.sub(" ", str(value))


def tensorboard_reads_binary(raw: bytes) -> bool:
  """True if the plugin's TSV-first reader falls back to raw float32.

  Mirrors projector_plugin._read_tensor_tsv_file: lines split at b"\\n",
  decoded as UTF-8; the first undecodable line means binary, a decodable
  non-empty one means a crash (ValueError from float()).
  """
  for line in io.BytesIO(raw):  # Shares `raw`'s buffer, no copy.
    try:
      text = line.decode("utf-8")
    except UnicodeDecodeError:
      return True
    if text.rstrip("\n"):
      return False
  return False


def _write_tensor(folder: str, points: np.ndarray) -> Tuple[str, str]:
  """Writes raw float32 if TensorBoard will read it back, else TSV."""
  raw = points.tobytes()
  name = os.path.basename(folder)
  if tensorboard_reads_binary(raw):
    files.write_atomically(os.path.join(folder, "tensor.bin"), raw)
    return f"{name}/tensor.bin", "float32"
  logging.warning("Embedding %r would be misread by TensorBoard as text; "
                  "writing TSV, which is slower to load.", name)
  buffer = io.BytesIO()
  np.savetxt(buffer, points, fmt="%.9g", delimiter="\t")
  files.write_atomically(os.path.join(folder, "tensor.tsv"),
                         buffer.getvalue())
  return f"{name}/tensor.tsv", "tsv"


def _remove_stale(folder: str, written: Sequence[str]) -> None:
  for filename in _OUTPUTS:
    path = os.path.join(folder, filename)
    if filename not in written and os.path.exists(path):
      os.remove(path)


def _merge_config(logdir: str, info) -> str:
  """Replaces or appends `info` in the folder's config; returns its path."""
  path = os.path.join(logdir, CONFIG_FILENAME)
  config = projector_config_pb2.ProjectorConfig()
  if os.path.exists(path):
    with open(path) as f:
      text_format.Parse(f.read(), config)
  for existing in config.embeddings:
    if existing.tensor_name == info.tensor_name:
      existing.CopyFrom(info)
      break
  else:
    config.embeddings.add().CopyFrom(info)
  files.write_atomically(path, text_format.MessageToString(config))
  return os.path.abspath(path)


def _ensure_events_file(logdir: str) -> None:
  """Writes a file_version-only events file unless one exists.

  TensorBoard lists a folder as a run only if it holds an events file; the
  record framing comes from tensorboard's pure-Python writer, so no
  TensorFlow import (seconds) is needed.
  """
  if any("tfevents" in f for f in os.listdir(logdir)):
    return
  event = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
  path = os.path.join(logdir, "events.out.tfevents.%d.%s.projector" %
                      (int(time.time()), socket.gethostname()))
  record = io.BytesIO()
  record_writer.RecordWriter(record).write(event.SerializeToString())
  files.write_atomically(path, record.getvalue())


def _warn_about_pitfalls(logdir: str, n: int) -> None:
  if n > FRONTEND_MAX_POINTS:
    logging.warning("The projector loads only the first %d of %d points.",
                    FRONTEND_MAX_POINTS, n)
  for folder in (logdir, os.path.join(logdir, os.pardir)):
    if os.path.exists(os.path.join(folder, "checkpoint")):
      logging.warning(
          "%s holds a TF checkpoint: TensorBoard will list its 2-D variables "
          "as extra embeddings. Export into a folder whose parent holds no "
          "checkpoint.", os.path.abspath(folder))
