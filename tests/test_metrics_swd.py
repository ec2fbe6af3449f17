"""Tests for s2f_tf.metrics.swd: identities, monotonicity, pyramid."""

import numpy as np
import pytest

from s2f_tf.metrics import swd


def _smooth_images(n, size, seed=0):
  """Images of random smooth waves: structure at every pyramid level."""
  rng = np.random.RandomState(seed)
  yy, xx = np.mgrid[:size, :size] / size
  waves = [np.sin(fx * xx + a) * np.cos(fy * yy + b)
           for fx, fy, a, b in rng.rand(n, 4) * [8, 8, 6, 6]]
  images = np.stack(waves)[..., None] * [90, 60, 40] + 128
  return np.clip(images, 0, 255).astype(np.uint8)


def _descriptors(images, seed):
  descriptors = swd.Descriptors(images.shape[1], seed=seed)
  for i in range(0, len(images), 16):
    descriptors.update(images[i:i + 16])
  return descriptors


def test_levels_follow_image_size():
  assert swd.resolutions(64) == [64, 32, 16]
  assert swd.resolutions(16) == [16]
  with pytest.raises(swd.SwdError, match="at least 16 px.*got 8 px"):
    swd.Descriptors(8)


def test_laplacian_pyramid_reconstructs_the_image():
  import cv2  # pylint: disable=g-import-not-at-top
  image = _smooth_images(1, 32)[0]
  pyramid = swd.laplacian_pyramid(image, 2)
  assert [p.shape[0] for p in pyramid] == [32, 16]
  rebuilt = pyramid[0] + cv2.pyrUp(pyramid[1], dstsize=(32, 32))
  np.testing.assert_allclose(rebuilt, image, atol=1e-3)


def test_same_patches_of_the_same_images_give_zero():
  images = _smooth_images(32, 32)
  result = swd.swd(_descriptors(images, 0), _descriptors(images, 0))
  assert result.per_level == {32: 0.0, 16: 0.0}
  assert result.images == 32


def test_grows_with_added_noise():
  images = _smooth_images(32, 32)
  rng = np.random.RandomState(1)
  values = []
  for sigma in (0, 10, 40):
    noisy = np.clip(images + rng.randn(*images.shape) * sigma, 0, 255)
    # Other random patches (seed 1): the same images give a small value.
    result = swd.swd(_descriptors(images, 0),
                     _descriptors(noisy.astype(np.uint8), 1))
    values.append(result.average)
    assert result.average == pytest.approx(np.mean(list(
        result.per_level.values())))
  assert values[0] < values[1] < values[2]
  assert values[0] < 0.2 * values[2]


def test_unequal_sets_and_wrong_shapes_are_clear_errors():
  images = _smooth_images(8, 16)
  with pytest.raises(swd.SwdError, match="8 real images.*4 generated"):
    swd.swd(_descriptors(images, 0), _descriptors(images[:4], 0))
  with pytest.raises(swd.SwdError, match=r"must be \[b, 16, 16, 3\]"):
    swd.Descriptors(16).update(np.zeros((2, 32, 32, 3), np.uint8))
