"""SWD, FID and KID of a stream of (real, generated) batches, in one pass.

The evaluation hands over each of a task's `eval_streams`: uint8
[b, S, S, 3] pairs, streamed so that no metric needs every image in memory
(FID keeps float64 sums, KID the 2048 features per image, SWD 128 patches
per image and level). A metric that cannot run (no --inception, a wrong
file, too few images for KID's subsets, non-finite features) is reported in
one log line and left out; the others still run.
"""

import dataclasses
import functools
import io
import logging
import os
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from s2f_tf import files
from s2f_tf.metrics import fid
from s2f_tf.metrics import inception
from s2f_tf.metrics import kid
from s2f_tf.metrics import swd

METRICS = ("swd", "fid", "kid")


@dataclasses.dataclass(frozen=True)
class Options:
  """How to compute the distribution metrics (see the modules' docs)."""

  metrics: Sequence[str] = ("swd",)
  inception: Optional[str] = None  # path to the .pb or .tgz
  kid_subsets: int = 100
  kid_subset_size: int = 1000
  kid_protocol: str = "subsets"  # or "blocks": TF-GAN's, blocks of 10.
  seed: int = 0
  # An .npz of the real images' Inception features for this stream: read
  # instead of running Inception on them when it holds as many images,
  # written after a run that computed them (see `_Features`).
  real_features_cache: Optional[str] = None


@functools.lru_cache(maxsize=2)
def _network(path: str) -> inception.Inception:
  """Parsed once per process: evaluation runs every --eval_every steps."""
  return inception.Inception(path)


class _Features:
  """Inception features of both streams: FID sums and KID's kept rows.

  The real images' features are the same at every evaluation of a fixed
  set, and most of an FID's cost (pytorch-fid's --save-stats, TTUR's
  precomputed statistics). With `cache`, they are read from it when it
  holds at least as many images as the stream brings, else computed and
  written there; either way their FID statistics are summed in one update
  over the whole set, so a cached and a computed evaluation agree exactly.
  A cache that cannot be read or written is one log line, never a failure.
  """

  def __init__(self, net, keep: bool, cache: Optional[str] = None,
               log: Callable[[str], None] = logging.warning):
    self.net, self.keep, self.cache, self.log = net, keep, cache, log
    self.stats = (fid.Stats(), fid.Stats())
    self.kept = ([], [])
    self.real_count = 0
    self.cached = _read_cache(cache, log) if cache else None

  def update(self, real, fake):
    start, self.real_count = self.real_count, self.real_count + len(real)
    have = 0 if self.cached is None else len(self.cached)
    if self.real_count > have:  # Images past the cache: through Inception.
      self.kept[0].append(self.net(real[max(have - start, 0):]))
    features = self.net(fake)
    self.stats[1].update(features)
    if self.keep:
      self.kept[1].append(features)

  def finish(self) -> None:
    """Real statistics from the cached and computed features (one update);
    the cache grows to hold every real image this stream brought."""
    parts = ([self.cached[:self.real_count]] if self.cached is not None
             else []) + self.kept[0]
    real = np.concatenate(parts)
    if self.cache and self.kept[0]:
      _write_cache(self.cache, real, self.log)
    self.stats[0].update(real)
    self.kept = ([real] if self.keep else [], self.kept[1])


def _read_cache(path: str, log) -> Optional[np.ndarray]:
  if not os.path.exists(path):
    return None
  try:
    with np.load(path) as data:
      return np.asarray(data["features"], np.float32)
  except (OSError, ValueError, KeyError, EOFError) as e:
    log(f"{path} is not a readable features cache "
        f"({type(e).__name__}); recomputing the real images' features")
    return None


def _write_cache(path: str, features: np.ndarray, log) -> None:
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, features=features)
    files.write_atomically(path, buffer.getvalue())
  except (OSError, files.WriteError) as e:
    log(f"real images' features not cached at {path}: {e}")


def _feature_metrics(features: _Features, options: Options, log) -> Dict:
  features.finish()
  results = {}
  real_stats, fake_stats = features.stats
  if "fid" in options.metrics:
    try:
      value = fid.frechet_distance(*real_stats.mu_sigma(),
                                   *fake_stats.mu_sigma())
      results["fid"] = {"value": value, "images": fake_stats.count}
    except ValueError as e:  # fewer than 2 images
      log(f"FID skipped: {e}")
  if "kid" in options.metrics:
    try:
      real, fake = (np.concatenate(k) for k in features.kept)
      if options.kid_protocol == "blocks":
        result = kid.kid_blocks(real, fake)  # U-GAT-IT's blocks of 10.
      else:
        result = kid.kid(real, fake, options.kid_subsets,
                         options.kid_subset_size, options.seed)
      # Numbers only (they become TensorBoard scalars); the keys tell the
      # protocols apart: subsets/std against blocks/std_error.
      results["kid"] = dict(dataclasses.asdict(result), images=len(fake))
    except kid.KidError as e:
      log(f"KID skipped: {e}")
  return results


def _open_features(options: Options, log) -> Optional[_Features]:
  """The feature stream for FID/KID, or None (with the reason logged)."""
  wanted = [m for m in ("fid", "kid") if m in options.metrics]
  if not wanted:
    return None
  if not options.inception:
    log(f"{' and '.join(m.upper() for m in wanted)} skipped: no --inception;"
        f" {inception.STANDARD_FILE}")
    return None
  try:
    return _Features(_network(options.inception), keep="kid" in wanted,
                     cache=options.real_features_cache, log=log)
  except inception.InceptionError as e:
    log(f"FID/KID skipped: {e}")
    return None


def _open_swd(image_size: int, options: Options, log):
  """(real, generated) descriptor sets, or () when SWD cannot measure."""
  try:
    return (swd.Descriptors(image_size, options.seed),
            swd.Descriptors(image_size, options.seed + 1))
  except swd.SwdError as e:
    log(f"SWD skipped: {e}")
    return ()


class Accumulator:
  """SWD, FID and KID of one (real, generated) stream, fed batch by batch.

  What `s2f_tf.metrics.registry` opens for every stream that asks for any of
  METRICS: one Inception pass serves FID and KID.
  """

  def __init__(self, options: Options,
               log: Callable[[str], None] = logging.warning):
    unknown = sorted(set(options.metrics) - set(METRICS))
    if unknown:
      raise ValueError(f"unknown distribution metrics {unknown}; use "
                       f"{', '.join(METRICS)}")
    self.options, self.log = options, log
    self.features = _open_features(options, log)
    self.descriptors = None

  def update(self, real: np.ndarray, fake: np.ndarray) -> None:
    if "swd" in self.options.metrics and self.descriptors is None:
      self.descriptors = _open_swd(real.shape[1], self.options, self.log)
    if self.descriptors:
      self.descriptors[0].update(real)
      self.descriptors[1].update(fake)
    if self.features:
      try:
        self.features.update(real, fake)
      except inception.InceptionError as e:
        self.log(f"FID/KID skipped: {e}")
        self.features = None

  def results(self) -> Dict:
    """Metric name -> results (each with the number of images used)."""
    results = (_feature_metrics(self.features, self.options, self.log)
               if self.features else {})
    if self.descriptors:
      result = swd.swd(*self.descriptors, seed=self.options.seed)
      results["swd"] = {f"x1e3_{size}": value
                        for size, value in result.per_level.items()}
      results["swd"].update(x1e3_avg=result.average, images=result.images)
    return results


def evaluate(batches: Iterable[Tuple[np.ndarray, np.ndarray]],
             options: Options,
             log: Callable[[str], None] = logging.warning) -> Dict:
  """Metric name -> results (each with the number of images used)."""
  accumulator = Accumulator(options, log)
  for real, fake in batches:
    accumulator.update(real, fake)
  return accumulator.results()
