"""Tests for s2f_tf.data.labels: class-id checks and label-map files."""

import cv2
import numpy as np
import pytest

from s2f_tf.data import labels


def test_check_class_ids_names_the_first_bad_file():
  masks = np.zeros((3, 4, 4), np.uint8)
  masks[1, 0, 0], masks[2, 3, 3] = 19, 25
  with pytest.raises(ValueError, match=r"^b\.png: label value 19 >= "
                     r"--label_nc=19 .* 2 of 3 maps"):
    labels.check_class_ids(masks, 19, ["a.png", "b.png", "c.png"])
  labels.check_class_ids(masks, 26, ["a.png", "b.png", "c.png"])


def test_read_class_map_resizes_square_maps_nearest(tmp_path):
  ids = np.zeros((8, 8), np.uint8)
  ids[:4], ids[4:, 4:] = 13, 1
  path = str(tmp_path / "mask.png")
  cv2.imwrite(path, ids)
  got = labels.read_class_map(path, 4, 19)
  np.testing.assert_array_equal(got, ids[::2, ::2])


@pytest.mark.parametrize("image,match", [
    (np.full((4, 4), 19, np.uint8), "label value 19 >= --label_nc=19"),
    (np.zeros((4, 6), np.uint8), "is 6x4; expected a square map"),
    (np.dstack([np.zeros((4, 4)), np.ones((4, 4)), np.zeros((4, 4))]).astype(
        np.uint8), "colour-coded"),
])
def test_read_class_map_rejects_bad_maps_naming_the_file(tmp_path, image,
                                                         match):
  path = str(tmp_path / "bad.png")
  cv2.imwrite(path, image)
  with pytest.raises(ValueError, match=match) as e:
    labels.read_class_map(path, 4, 19)
  assert str(e.value).startswith(path) and "\n" not in str(e.value)
