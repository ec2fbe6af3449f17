"""Tests for the DCGAN / WGAN baselines, the image-folder data and the grids."""

import os
from unittest import mock

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from s2f_tf.models import dcgan
from s2f_tf import summaries
from s2f_tf.data import decode
from s2f_tf.data import folder
from s2f_tf.data import layout

CH = 8  # Tiny widths: seconds, not minutes.


def _all_layers(model):
  for layer in model.layers:
    yield layer
    if isinstance(layer, keras.Model):
      yield from _all_layers(layer)


@pytest.mark.parametrize("size", [32, 64])
def test_dcgan_shapes_dtypes_and_names(size):
  g = dcgan.build_dcgan_generator(z_dim=10, image_size=size, base_channels=CH)
  d = dcgan.build_dcgan_discriminator(image_size=size, base_channels=CH)
  images = g(tf.random.normal([3, 10]), training=True)
  assert images.shape == (3, size, size, 3) and images.dtype == tf.float32
  assert np.all(np.abs(images.numpy()) <= 1.0)
  logits = d(images, training=True)
  assert logits.shape == (3,) and logits.dtype == tf.float32
  g_paths = [v.path for v in g.variables]
  assert "dcgan_generator/up_1/conv/kernel" in g_paths
  assert "dcgan_discriminator/down_1/conv/kernel" in [v.path
                                                      for v in d.variables]


def test_dcgan_sizes_are_checked():
  with pytest.raises(ValueError, match="32, 64, 128"):
    dcgan.build_dcgan_generator(image_size=48, base_channels=CH)


def test_wgan_critic_has_no_batch_norm_and_is_per_example():
  d = dcgan.build_dcgan_discriminator(32, CH, batch_norm=False)
  kinds = {type(layer) for layer in _all_layers(d)}
  assert keras.layers.BatchNormalization not in kinds
  assert keras.layers.LayerNormalization in kinds
  assert keras.layers.BatchNormalization in {
      type(layer) for layer in _all_layers(
          dcgan.build_dcgan_discriminator(32, CH))}
  # What WGAN-GP needs: an example's score ignores the rest of the batch.
  x = tf.random.normal([4, 32, 32, 3])
  np.testing.assert_allclose(d(x, training=True).numpy()[:1],
                             d(x[:1], training=True).numpy(), rtol=1e-4,
                             atol=1e-5)


def _write(path, image):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(image).save(path)


@pytest.fixture
def image_root(tmp_path):
  """4 good images (nested, mixed case), 2 bad ones and a text file."""
  root = tmp_path / "images"
  wide = np.zeros((10, 30, 3), np.uint8)
  wide[:, :10, 0] = wide[:, 20:, 2] = 255
  wide[:, 10:20, 1] = 255  # Only the centre square is green.
  _write(str(root / "a.png"), wide)
  _write(str(root / "sub" / "b.JPG"), np.full((40, 20, 3), 200, np.uint8))
  _write(str(root / "sub" / "deep" / "c.jpeg"), np.zeros((8, 8, 3), np.uint8))
  _write(str(root / "d.PNG"), np.full((12, 12), 90, np.uint8))
  (root / "not_an_image.jpg").write_bytes(b"<html>404</html>")
  data = (root / "sub" / "b.JPG").read_bytes()
  (root / "truncated.jpg").write_bytes(data[:len(data) // 2])
  (root / "notes.txt").write_text("ignored")
  return str(root)


def test_folder_loads_crops_and_skips_bad_files(image_root):
  with mock.patch.object(decode.logging, "warning") as warning:
    images, skipped = folder.load_images(image_root, 16)
    folder.load_images(image_root, 16)
  assert images.shape == (4, 16, 16, 3) and images.dtype == np.uint8
  assert sorted(os.path.basename(p) for p in skipped) == [
      "not_an_image.jpg", "truncated.jpg"]
  assert warning.call_count == 2  # Logged once per file, not per load.
  np.testing.assert_array_equal(images[0, 8, 8], [0, 255, 0])  # a.png


def test_folder_dataset_batches(image_root):
  ds = folder.make_image_dataset(image_root, 16, 3, seed=1)
  assert ds.element_spec["image"].shape == (3, 16, 16, 3)
  for batch in ds.take(3):
    image = batch["image"].numpy()
    assert image.dtype == np.float32 and image.shape == (3, 16, 16, 3)
    assert image.min() >= -1.0 and image.max() <= 1.0
  once = folder.make_image_dataset(image_root, 16, 2, shuffle=False,
                                   repeat=False)
  assert len(list(once)) == 2


def test_folder_errors_name_the_path(tmp_path):
  missing = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match=missing):
    folder.make_image_dataset(missing, 16, 2)
  (tmp_path / "empty" / "sub").mkdir(parents=True)
  with pytest.raises(ValueError, match=str(tmp_path / "empty")):
    folder.make_image_dataset(str(tmp_path / "empty"), 16, 2)


def test_folder_of_a_face_set_reads_only_its_photos(tmp_path):
  root = tmp_path / "faces"
  for name in (layout.IMAGE_DIR, layout.SKETCH_DIR):
    _write(str(root / name / "0.png"), np.zeros((8, 8, 3), np.uint8))
  _write(str(root / layout.IMAGE_DIR / "1.jpg"), np.zeros((8, 8, 3), np.uint8))
  images, _ = folder.load_images(str(root), 8)
  assert len(images) == 2


def test_image_grid_geometry():
  tiles = np.linspace(-1, 1, 5)[:, None, None, None] * np.ones((5, 4, 6, 3))
  grid = summaries.image_grid(tiles)  # 5 tiles -> 3 columns, 2 rows.
  assert grid.shape == (8, 18, 3) and grid.dtype == np.uint8
  expected = summaries.to_uint8(tiles)
  np.testing.assert_array_equal(grid[4:8, 6:12], expected[4])
  assert not grid[4:, 12:].any()  # The sixth tile is empty.
  assert summaries.image_grid(tiles, rows=1).shape == (4, 30, 3)
  assert summaries.image_grid(np.zeros((16, 2, 2, 1))).shape == (8, 8, 3)


def test_write_gif_frames(tmp_path):
  paths = []
  for i in range(3):
    paths.append(str(tmp_path / "grids" / f"{i}.png"))
    summaries.save_png(np.full((4, 4, 3), 60 * i, np.uint8), paths[-1])
  out = str(tmp_path / "progress.gif")
  summaries.write_gif(paths, out, duration_ms=50)
  with Image.open(out) as gif:
    assert gif.n_frames == 3
    assert gif.info["duration"] == 50
