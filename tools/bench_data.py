"""Benchmark the data layer: synthetic set generation and episode throughput.

  python tools/bench_data.py                 # 10,000 images at 128 px
  python tools/bench_data.py --images 1200   # a quick run

Prints a markdown table for the README. An episode is one target with its K
references; a batch holds `batch_size` of them.
"""

import os
import shutil
import tempfile
import time

from absl import app
from absl import flags
from absl import logging

from s2f_tf.data import episodes
from s2f_tf.data import reader
from s2f_tf.data import synth

_IMAGES = flags.DEFINE_integer("images", 10000, "Synthetic images to write.")
_PER_IDENTITY = flags.DEFINE_integer("per_identity", 12, "Photos per person.")
_SYNTH_SIZE = flags.DEFINE_integer("synth_size", 128, "Stored image size.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "Episode image size.")
_K_REFS = flags.DEFINE_integer("k_refs", 3, "References per episode.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Episodes per batch.")
_BATCHES = flags.DEFINE_integer("batches", 2000, "Batches to time.")
_WORKERS = flags.DEFINE_integer("workers", 2, "Threads for synth and decode.")
_WORKDIR = flags.DEFINE_string("workdir", "", "Where to write the set; "
                               "empty: a temporary directory, removed after.")


def _timed(fn):
  start = time.perf_counter()
  result = fn()
  return result, time.perf_counter() - start


def _bench_episodes(face_set) -> float:
  """Batches per second of the in-memory pipeline after a warm-up."""
  ds = episodes.make_episode_dataset(face_set, _BATCH.value, _K_REFS.value)
  batches = iter(ds)
  for _ in range(50):  # Tracing and autotuning happen here, not in the timing.
    next(batches)
  start = time.perf_counter()
  for _ in range(_BATCHES.value):
    next(batches)
  return _BATCHES.value / (time.perf_counter() - start)


def main(argv) -> None:
  del argv
  logging.set_verbosity(logging.WARNING)
  workdir = _WORKDIR.value or tempfile.mkdtemp(prefix="s2f_bench_")
  root = os.path.join(workdir, "faces")
  identities = -(-_IMAGES.value // _PER_IDENTITY.value)
  summary = synth.write_synthetic_faces(
      root, identities, _PER_IDENTITY.value, _SYNTH_SIZE.value, seed=0,
      workers=_WORKERS.value)
  load = lambda: reader.load_face_set(root, _IMAGE_SIZE.value,
                                      workers=_WORKERS.value)
  face_set, decode_s = _timed(load)
  _, cached_s = _timed(load)
  per_s = _bench_episodes(face_set)
  n, size = summary["images"], _SYNTH_SIZE.value
  rows = [
      (f"synth: {n} images at {size} px (with xdog sketches)",
       f"{summary['seconds']:.1f} s ({n / summary['seconds']:.0f} images/s)"),
      (f"load: decode + resize to {_IMAGE_SIZE.value} px, first time",
       f"{decode_s:.1f} s"),
      ("load: from .s2f_cache", f"{cached_s:.2f} s"),
      (f"episodes: {_IMAGE_SIZE.value} px, K={_K_REFS.value}, batch "
       f"{_BATCH.value}", f"{per_s * _BATCH.value:.0f} episodes/s "
       f"({per_s:.0f} batches/s)"),
  ]
  print(f"\n| measurement ({os.cpu_count()} CPUs) | result |\n| --- | --- |")
  for name, value in rows:
    print(f"| {name} | {value} |")
  if not _WORKDIR.value:
    shutil.rmtree(workdir)


if __name__ == "__main__":
  app.run(main)
