"""Tests for s2f_tf.metrics.distribution: one pass, and failures that stay
one log line while the other metrics still run."""

import numpy as np
import pytest

from s2f_tf.metrics import distribution
from s2f_tf.metrics import fid
from s2f_tf.metrics import inception
from s2f_tf.metrics import kid


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
  return inception.write_stand_in(
      str(tmp_path_factory.mktemp("inception") / inception.GRAPH_FILE),
      features=64)


def _batches(n=24, size=16, batch=8, shift=0):
  rng = np.random.RandomState(0)
  for _ in range(n // batch):
    real = rng.randint(0, 200, (batch, size, size, 3)).astype(np.uint8)
    yield real, (real + shift).astype(np.uint8)


def _run(metrics, **options):
  lines = []
  results = distribution.evaluate(
      _batches(**options.pop("stream", {})),
      distribution.Options(metrics=metrics, **options), lines.append)
  return results, lines


def test_all_metrics_in_one_pass_match_the_modules(stand_in):
  results, lines = _run(("swd", "fid", "kid"), inception=stand_in,
                        kid_subsets=3, kid_subset_size=10,
                        stream={"shift": 40})
  assert not lines
  assert set(results) == {"swd", "fid", "kid"}
  assert {r["images"] for r in results.values()} == {24}
  assert set(results["swd"]) == {"x1e3_16", "x1e3_avg", "images"}
  # FID equals the Frechet distance of the features computed in one go.
  net = inception.Inception(stand_in)
  real, fake = (np.concatenate(x) for x in zip(*_batches(shift=40)))
  stats = []
  for images in (real, fake):
    features = net(images)
    stats += [features.mean(axis=0), np.cov(features, rowvar=False)]
  assert results["fid"]["value"] == pytest.approx(
      fid.frechet_distance(*stats), rel=1e-6)
  assert results["kid"]["subset_size"] == 10


def test_kid_blocks_protocol_is_tf_gans_estimator_on_the_features(stand_in):
  results, lines = _run(("kid",), inception=stand_in, kid_protocol="blocks",
                        stream={"shift": 40})
  assert not lines
  net = inception.Inception(stand_in)
  real, fake = (np.concatenate(x) for x in zip(*_batches(shift=40)))
  want = kid.kid_blocks(net(real), net(fake), 10)
  assert results["kid"] == {"mean": pytest.approx(want.mean, rel=1e-6),
                            "std_error": pytest.approx(want.std_error,
                                                       rel=1e-6),
                            "blocks": 3, "max_block_size": 10, "images": 24}


def test_fid_and_kid_without_inception_are_skipped_in_one_line():
  results, lines = _run(("swd", "fid", "kid"))
  assert list(results) == ["swd"]
  assert len(lines) == 1
  assert lines[0].startswith("FID and KID skipped: no --inception;")


def test_corrupt_inception_is_one_line_and_swd_still_runs(tmp_path):
  path = tmp_path / "classify_image_graph_def.pb"
  path.write_bytes(b"\x08\x96\x01 truncated")
  results, lines = _run(("swd", "fid"), inception=str(path))
  assert list(results) == ["swd"]
  assert len(lines) == 1 and "\n" not in lines[0]
  assert lines[0].startswith(f"FID/KID skipped: --inception={path}")


def test_empty_inception_file_is_called_empty(tmp_path):
  """An empty file parses as an empty GraphDef; the message must not blame
  missing tensors (issue 28)."""
  path = tmp_path / "classify_image_graph_def.pb"
  path.write_bytes(b"")
  with pytest.raises(inception.InceptionError) as error:
    inception.read_graph_def(str(path))
  assert str(error.value).startswith(
      f"--inception={path} is empty (0 bytes: a copy or download that "
      "failed?); ")


def test_too_few_images_for_kid_is_one_line(stand_in):
  results, lines = _run(("swd", "kid"), inception=stand_in)
  assert list(results) == ["swd"]
  assert lines == ["KID skipped: KID needs at least 1000 images per set for "
                   "subsets of 1000, got 24 real and 24 generated; evaluate "
                   "more images or lower the KID subset size"]


def test_non_finite_features_are_one_line(stand_in):
  def batches():
    real = np.full((4, 16, 16, 3), 100.0, np.float32)
    yield real, np.full_like(real, np.nan)
  lines = []
  results = distribution.evaluate(
      batches(), distribution.Options(("fid",), stand_in), lines.append)
  assert results == {}
  assert len(lines) == 1 and "NaN or Inf" in lines[0]


def test_unknown_metric_is_rejected():
  with pytest.raises(ValueError, match=r"unknown distribution metrics \['is'"):
    _run(("is",))
