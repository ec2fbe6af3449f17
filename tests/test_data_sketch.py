"""Tests for s2f_tf.data.sketch: every method draws a rectangle's border."""

import os

import cv2
import numpy as np
import pytest

from s2f_tf.data import decode
from s2f_tf.data import layout
from s2f_tf.data import sketch
from s2f_tf.data import synth

TOP, BOTTOM, LEFT, RIGHT = 16, 48, 20, 44  # The rectangle, half-open.


def _rectangle():
  image = np.full((64, 64, 3), 235, np.uint8)
  image[TOP:BOTTOM, LEFT:RIGHT] = (60, 40, 90)
  labels = np.zeros((64, 64), np.uint8)
  labels[TOP:BOTTOM, LEFT:RIGHT] = layout.CLASS_ID["skin"]
  return image, labels


def _distance_to_border():
  """Chessboard distance of every pixel to the rectangle's outline."""
  yy, xx = np.mgrid[0:64, 0:64]
  inside = (yy >= TOP) & (yy < BOTTOM) & (xx >= LEFT) & (xx < RIGHT)
  edge = np.zeros((64, 64), np.uint8)
  edge[inside] = 1
  outline = cv2.morphologyEx(edge, cv2.MORPH_GRADIENT, np.ones((3, 3))) > 0
  return cv2.distanceTransform((~outline).astype(np.uint8), cv2.DIST_C, 3)


@pytest.mark.parametrize("method", sketch.METHODS)
def test_lines_lie_on_the_rectangle_border(method):
  image, labels = _rectangle()
  drawing = sketch.extract_sketch(image, method, labels)
  assert drawing.dtype == np.uint8 and drawing.shape == (64, 64)
  dark = drawing < 128
  distance = _distance_to_border()
  perimeter = 2 * (BOTTOM - TOP + RIGHT - LEFT)
  assert dark.sum() >= 0.9 * perimeter  # Canny rounds the corners off.
  assert distance[dark].max() <= 2  # Nothing away from the border...
  assert drawing[0, 0] == 255 and drawing[32, 32] == 255  # ...paper is white.
  # Every side is drawn along its whole length, not just one side.
  cols, rows = slice(LEFT + 4, RIGHT - 4), slice(TOP + 4, BOTTOM - 4)
  assert dark[TOP - 2:TOP + 3, cols].any(axis=0).all()
  assert dark[BOTTOM - 3:BOTTOM + 2, cols].any(axis=0).all()
  assert dark[rows, LEFT - 2:LEFT + 3].any(axis=1).all()
  assert dark[rows, RIGHT - 3:RIGHT + 2].any(axis=1).all()


def test_mask_edges_resizes_a_smaller_label_map():
  image, labels = _rectangle()
  small = cv2.resize(labels, (32, 32), interpolation=cv2.INTER_NEAREST)
  drawing = sketch.extract_sketch(image, "mask_edges", small)
  assert drawing.shape == (64, 64)
  assert _distance_to_border()[drawing < 128].max() <= 2


def test_flat_photo_gives_blank_paper():
  flat = np.full((32, 32, 3), 128, np.uint8)
  for method in ("xdog", "canny"):
    assert (sketch.extract_sketch(flat, method) == 255).all()


def test_bad_method_and_missing_labels_are_errors():
  image, _ = _rectangle()
  with pytest.raises(ValueError, match="unknown sketch method 'pencil'"):
    sketch.extract_sketch(image, "pencil")
  with pytest.raises(ValueError, match="needs the parsing label map"):
    sketch.extract_sketch(image, "mask_edges")


def test_write_sketches_rewrites_and_skips_bad_photos(tmp_path):
  root = str(tmp_path / "faces")
  synth.write_synthetic_faces(root, 2, 3, 32, seed=0, sketch_method="canny")
  assert sketch.read_method(root) == "canny"
  with open(layout.image_path(root, 4), "w") as f:
    f.write("not a photo")
  assert sketch.write_sketches(root, "mask_edges+xdog", workers=1) == 5
  assert sketch.read_method(root) == "mask_edges+xdog"
  photo = decode.read_image(layout.image_path(root, 1), "rgb")
  labels = decode.read_label_map(root, 1, layout.list_mask_paths(root)[1],
                                 (32, 32), (32, 32))
  stored = decode.read_image(layout.sketch_path(root, 1), "gray")
  np.testing.assert_array_equal(
      stored, sketch.extract_sketch(photo, "mask_edges+xdog", labels))


def test_write_sketches_needs_photos(tmp_path):
  with pytest.raises(FileNotFoundError, match="CelebA-HQ-img"):
    sketch.write_sketches(str(tmp_path), "xdog")
  assert not os.path.exists(tmp_path / "sketch")
