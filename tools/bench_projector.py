r"""Times the projector export and a real TensorBoard serving it.

  python tools/bench_projector.py            # 10,000 x 4,096, 128 px images
  taskset -c 0,1 python tools/bench_projector.py   # the 2-core budget

Budgets (from the issue): export, sprite included, <= 10 s on 2 cores; the
real TensorBoard serves /tensor <= 5 s after it starts. The same embedding is
also served from TSV, and the sprite also encoded as PNG, so the format
choices in `projector.exporter` and `projector.sprite` stay measured.
Random images are the worst case for both encoders.
"""

import io
import os
import shutil
import tempfile
import time

from absl import app
from absl import flags
from google.protobuf import text_format
import numpy as np
from PIL import Image
from tensorboard.plugins.projector import projector_config_pb2

from projector import exporter
from projector import serve
from projector import sprite as sprite_lib

_POINTS = flags.DEFINE_integer("points", 10_000, "Embeddings (N).")
_DIMS = flags.DEFINE_integer("dims", 4096, "Values per embedding (D).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 128, "Thumbnail input px.")
_TSV = flags.DEFINE_bool("tsv", True, "Also serve a TSV copy (slow).")
_TIMEOUT = flags.DEFINE_float("timeout", 900, "Seconds to wait for a server.")


def _timed(fn, *args, **kwargs):
  start = time.perf_counter()
  result = fn(*args, **kwargs)
  return result, time.perf_counter() - start


def _megabytes(num_bytes: int) -> str:
  return f"{num_bytes / 1e6:.0f} MB"


def _png(sheet: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(sheet).save(buffer, format="PNG", compress_level=1)
  return buffer.getvalue()


def _time_parts(points, images, tile, scratch):
  """Times the export's pieces one by one; returns table rows."""
  flat, t_check = _timed(exporter.flatten_points, points)
  raw, tsv = os.path.join(scratch, "t.bin"), os.path.join(scratch, "t.tsv")
  _, t_raw = _timed(flat.tofile, raw)
  _, t_tsv = _timed(np.savetxt, tsv, flat, fmt="%.9g", delimiter="\t")
  sheet, t_build = _timed(sprite_lib.build_sprite, images, tile)
  jpeg, t_jpeg = _timed(sprite_lib.encode_sprite, sheet)
  png, t_png = _timed(_png, sheet)
  return [
      ("  validate + flatten to float32", t_check, ""),
      ("  write tensor: raw float32 (chosen)", t_raw,
       _megabytes(os.path.getsize(raw))),
      ("  write tensor: TSV %.9g (fallback)", t_tsv,
       _megabytes(os.path.getsize(tsv))),
      ("  build sprite (resize + tile)", t_build, f"{sheet.shape[0]} px"),
      ("  encode sprite: JPEG q90 (chosen)", t_jpeg, _megabytes(len(jpeg))),
      ("  encode sprite: PNG level 1", t_png, _megabytes(len(png))),
  ]


def _tsv_copy(export_dir: str, copy_dir: str, name: str) -> None:
  """The same export with the tensor as TSV, to time TensorBoard on it."""
  shutil.copytree(export_dir, copy_dir)
  folder = os.path.join(copy_dir, name)
  points = np.fromfile(os.path.join(folder, "tensor.bin"), np.float32)
  config_path = os.path.join(copy_dir, exporter.CONFIG_FILENAME)
  with open(config_path) as f:
    config = text_format.Parse(f.read(), projector_config_pb2.ProjectorConfig())
  shape = config.embeddings[0].tensor_shape
  np.savetxt(os.path.join(folder, "tensor.tsv"), points.reshape(shape),
             fmt="%.9g", delimiter="\t")
  os.remove(os.path.join(folder, "tensor.bin"))
  config.embeddings[0].tensor_path = f"{name}/tensor.tsv"
  with open(config_path, "w") as f:
    f.write(text_format.MessageToString(config))


def _serve(logdir: str, run: str, name: str, expected: bytes, label: str):
  """Starts TensorBoard on `logdir`; times /runs and /tensor; checks bytes."""
  with serve.TensorBoard(logdir) as tb:
    runs = tb.wait_for_runs(timeout=_TIMEOUT.value)
    listed = time.perf_counter()
    assert run in runs, (run, runs)
    served = tb.get("/tensor", timeout=_TIMEOUT.value, run=run, name=name)
    done = time.perf_counter()
  assert served == expected, f"{label}: /tensor bytes differ from the export"
  return [
      (f"TensorBoard {label}: start -> run listed", listed - tb.started, ""),
      (f"TensorBoard {label}: start -> /tensor served", done - tb.started,
       f"{len(served) / 1e6:.0f} MB, bytes equal"),
      (f"TensorBoard {label}: first answer -> /tensor",
       done - tb.first_answered, ""),
  ]


def main(argv):
  del argv
  n, d, size = _POINTS.value, _DIMS.value, _IMAGE_SIZE.value
  rng = np.random.default_rng(0)
  points = rng.standard_normal((n, d), dtype=np.float32)
  images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
  labels = {"index": range(n), "parity": ["even", "odd"] * (n // 2) +
            ["even"] * (n % 2)}
  root = tempfile.mkdtemp(prefix="bench_projector_")
  try:
    export_dir = os.path.join(root, "logs", "projector")
    done, seconds = _timed(exporter.export_embeddings, export_dir, points,
                           metadata=labels, images=images, name="style")
    rows = [(f"export_embeddings {n} x {d} + {n} images", seconds,
             f"{done.tensor_format}, tile {done.sprite_tile} px")]
    scratch = os.path.join(root, "scratch")
    os.makedirs(scratch)
    rows += _time_parts(points, images, done.sprite_tile, scratch)
    shutil.rmtree(scratch)
    rows += _serve(os.path.join(root, "logs"), "projector", "style",
                   points.tobytes(), "raw")
    if _TSV.value:
      _tsv_copy(export_dir, os.path.join(root, "tsv", "projector"), "style")
      rows += _serve(os.path.join(root, "tsv"), "projector", "style",
                     points.tobytes(), "TSV")
  finally:
    shutil.rmtree(root)
  print(f"\n{'step':58} {'seconds':>8}  notes")
  for step, secs, note in rows:
    print(f"{step:58} {secs:8.2f}  {note}")
  print(f"(cores available: {len(os.sched_getaffinity(0))})")


if __name__ == "__main__":
  app.run(main)
