"""Tests for s2f_tf.metrics.inception with a stand-in graph (no weights)."""

import tarfile

import numpy as np
import pytest
import tensorflow as tf

from s2f_tf.metrics import inception


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
  return inception.write_stand_in(
      str(tmp_path_factory.mktemp("inception") / inception.GRAPH_FILE))


def _images(n, size=32, seed=0):
  return np.random.RandomState(seed).randint(0, 256, (n, size, size, 3),
                                             dtype=np.uint8)


def test_batches_give_the_same_features_as_one_image_at_a_time(stand_in):
  images = _images(7)
  batched = inception.Inception(stand_in, batch_size=3)(images)
  single = inception.Inception(stand_in, batch_size=1)(images)
  assert batched.shape == (7, inception.FEATURES)
  np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
  # Order is kept and different images give different features.
  assert np.abs(batched[0] - batched[1]).max() > 1e-3


def test_uint8_and_float_pixels_agree(stand_in):
  images = _images(4, seed=1)
  net = inception.Inception(stand_in)
  np.testing.assert_allclose(net(images), net(images.astype(np.float32)),
                             rtol=1e-6, atol=1e-6)


def test_graph_resizes_any_size_to_299(stand_in):
  # A flat image stays flat under bilinear resizing, so the 299 px input
  # the graph sees is the same whether the image had 16 or 64 px.
  net = inception.Inception(stand_in)
  small = np.full((1, 16, 16, 3), 200, np.uint8)
  large = np.full((1, 64, 64, 3), 200, np.uint8)
  np.testing.assert_allclose(net(small), net(large), rtol=1e-5, atol=1e-6)


def test_tgz_holding_the_graph_loads(stand_in, tmp_path):
  archive = str(tmp_path / "inception-2015-12-05.tgz")
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(stand_in, arcname=inception.GRAPH_FILE)
  images = _images(2, seed=2)
  np.testing.assert_array_equal(inception.Inception(archive)(images),
                                inception.Inception(stand_in)(images))


def test_missing_file_says_where_the_standard_file_comes_from(tmp_path):
  with pytest.raises(inception.InceptionError,
                     match="no such file.*inception-2015-12-05.tgz"):
    inception.Inception(str(tmp_path / "absent.pb"))


def test_corrupt_file_is_one_clear_line(tmp_path):
  path = tmp_path / "corrupt.pb"
  path.write_bytes(b"\xff\x00 this is not a protocol buffer \x13\x37" * 10)
  with pytest.raises(inception.InceptionError) as error:
    inception.Inception(str(path))
  assert "\n" not in str(error.value)
  assert "inception-2015-12-05.tgz" in str(error.value)


def test_graph_without_pool_3_is_rejected(tmp_path):
  graph = tf.Graph()
  with graph.as_default():
    images = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3])
    tf.reduce_mean(tf.expand_dims(images, 0), name="ExpandDims")
  path = tmp_path / "other.pb"
  path.write_bytes(graph.as_graph_def().SerializeToString())
  with pytest.raises(inception.InceptionError,
                     match="no tensor pool_3:0, so it is not the FID"):
    inception.Inception(str(path))


def test_tgz_without_the_graph_is_rejected(tmp_path):
  (tmp_path / "readme.txt").write_text("no graph here")
  archive = str(tmp_path / "wrong.tgz")
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(str(tmp_path / "readme.txt"), arcname="readme.txt")
  with pytest.raises(inception.InceptionError,
                     match="holds no classify_image_graph_def.pb"):
    inception.Inception(archive)


def test_nan_pixels_give_one_clear_line(stand_in):
  images = _images(3, seed=3).astype(np.float32)
  images[1, 0, 0, 0] = np.nan
  with pytest.raises(inception.InceptionError,
                     match="features of 1 of 3 images are NaN or Inf"):
    inception.Inception(stand_in)(images)
