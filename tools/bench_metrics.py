"""Streaming FID/KID features and SWD on 10,000 images: speed and memory.

Images are made batch by batch and dropped after use, so resident memory
must stay flat while features stream through the Inception graph: only the
float64 FID sums (2048 x 2048) and the float32 features KID needs (8 KB per
image) grow. Without --inception the stand-in graph with the same tensor
names is used (same loading, batching and 299 px resize, cheaper network).

  python tools/bench_metrics.py                       # stand-in graph
  python tools/bench_metrics.py --inception=classify_image_graph_def.pb
"""

import os
import resource
import tempfile
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top

from s2f_tf.metrics import fid  # pylint: disable=g-import-not-at-top
from s2f_tf.metrics import inception  # pylint: disable=g-import-not-at-top
from s2f_tf.metrics import kid  # pylint: disable=g-import-not-at-top
from s2f_tf.metrics import swd  # pylint: disable=g-import-not-at-top

flags.DEFINE_string("inception", None, "The real Inception .pb or .tgz.")
flags.DEFINE_integer("images", 10000, "Images per set.")
flags.DEFINE_integer("size", 64, "Image size in pixels.")
flags.DEFINE_integer("batch", 100, "Images per batch.")
FLAGS = flags.FLAGS


def peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Timer:
  """Wall and process CPU seconds: on a shared machine the CPU time is the
  figure that does not depend on what else runs."""

  def __enter__(self):
    self.wall, self.cpu = time.time(), time.process_time()
    return self

  def __exit__(self, *unused):
    self.wall = time.time() - self.wall
    self.cpu = time.process_time() - self.cpu

  def __str__(self):
    return f"{self.wall:.1f} s wall, {self.cpu:.1f} s CPU"


def image_batches(seed):
  """FLAGS.images uint8 images in batches: smooth blobs plus noise."""
  rng = np.random.RandomState(seed)
  for _ in range(FLAGS.images // FLAGS.batch):
    coarse = rng.randint(0, 256, (FLAGS.batch, 4, 4, 3)).astype(np.float32)
    smooth = coarse.repeat(FLAGS.size // 4, 1).repeat(FLAGS.size // 4, 2)
    noise = rng.randn(FLAGS.batch, FLAGS.size, FLAGS.size, 3) * 20
    yield np.clip(smooth + noise, 0, 255).astype(np.uint8)


def bench_features(net):
  """Streams one set through `net`; prints RSS every 2,000 images.

  The features KID needs are the one thing that should grow (8 KB per
  image), so the table also shows the peak without them.
  """
  stats, kept = fid.Stats(), []
  print(f"{'images':>8} {'features/s':>11} {'peak RSS':>10} "
        f"{'KID features':>13} {'peak - KID':>11}")
  start = time.time()
  for batch in image_batches(seed=0):
    features = net(batch)
    stats.update(features)
    kept.append(features)
    if stats.count % 2000 == 0:
      rate = stats.count / (time.time() - start)
      kept_mb = stats.count * inception.FEATURES * 4 / 2**20
      print(f"{stats.count:>8} {rate:>11.1f} {peak_rss_mb():>7.0f} MB "
            f"{kept_mb:>10.0f} MB {peak_rss_mb() - kept_mb:>8.0f} MB")
  return stats, np.concatenate(kept)


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as tmp:
    path = FLAGS.inception or inception.write_stand_in(
        os.path.join(tmp, inception.GRAPH_FILE))
    net = inception.Inception(path)
    print(f"Inception graph: {'real' if FLAGS.inception else 'stand-in'}; "
          f"{FLAGS.images} images at {FLAGS.size} px, batches of "
          f"{FLAGS.batch}; peak RSS before: {peak_rss_mb():.0f} MB")
    with Timer() as timer:
      stats, features = bench_features(net)
    print(f"features: {timer}")
  with Timer() as timer:
    mu, sigma = stats.mu_sigma()
    distance = fid.frechet_distance(mu, sigma, mu + 0.01, sigma)
  print(f"FID of 2048-d statistics: {timer} (value {distance:.4f}, "
        f"expected {2048 * 1e-4:.4f})")
  with Timer() as timer:
    result = kid.kid(features, features[::-1] + 0.01)
  print(f"KID, 100 subsets of 1000: {timer} (mean {result.mean:.2e}, "
        f"std {result.std:.2e})")
  del features
  with Timer() as extract:
    real, fake = swd.Descriptors(FLAGS.size, 0), swd.Descriptors(FLAGS.size, 1)
    for real_batch, fake_batch in zip(image_batches(1), image_batches(2)):
      real.update(real_batch)
      fake.update(fake_batch)
  with Timer() as distances:
    result = swd.swd(real, fake)
  levels = ", ".join(f"{k}: {v:.2f}" for k, v in result.per_level.items())
  print(f"SWD of 2 x {FLAGS.images} images: descriptors {extract}; "
        f"distances {distances}; x1e3 {levels}, avg {result.average:.2f}; "
        f"peak RSS {peak_rss_mb():.0f} MB")

if __name__ == "__main__":
  app.run(main)
