"""Tests for s2f_tf.data.layout: names, class order, overlaps, text files."""

import os

import numpy as np
import pytest

from s2f_tf.data import layout


def test_class_order_is_fixed():
  assert layout.CLASS_NAMES == (
      "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow",
      "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat",
      "ear_r", "neck_l", "neck", "cloth")
  assert layout.NUM_CLASSES == 19
  assert layout.CLASS_ID["hair"] == 13
  assert layout.CLASS_ID["cloth"] == 18


def test_paths_follow_celebamask_hq():
  root = os.path.join("r")
  assert layout.image_path(root, 4001) == os.path.join(
      "r", "CelebA-HQ-img", "4001.jpg")
  assert layout.mask_path(root, 4001, "l_eye") == os.path.join(
      "r", "CelebAMask-HQ-mask-anno", "2", "04001_l_eye.png")
  assert layout.mask_path(root, 7, "skin").endswith(
      os.path.join("0", "00007_skin.png"))
  assert layout.sketch_path(root, 12) == os.path.join("r", "sketch", "12.png")
  assert layout.identity_path(root) == os.path.join("r", "identity_CelebA.txt")
  assert layout.identity_path(root, "/x/ids.txt") == "/x/ids.txt"


@pytest.mark.parametrize("name, expected", [
    ("00012_l_eye.png", (12, "l_eye")),
    ("29999_cloth.png", (29999, "cloth")),
    ("00012_background.png", (-1, "")),
    ("00012_glasses.png", (-1, "")),
    ("abcde_skin.png", (-1, "")),
    ("00012_skin.jpg", (-1, "")),
])
def test_parse_mask_name(name, expected):
  assert layout.parse_mask_name(name) == expected


def test_overlaps_resolve_later_part_wins():
  full = np.ones((2, 2), bool)
  corner = np.array([[True, False], [False, False]])
  labels = layout.compose_label_map(
      {"hair": corner, "skin": full}, (2, 2))
  np.testing.assert_array_equal(labels, [[13, 1], [1, 1]])
  labels = layout.compose_label_map({"eye_g": full, "l_eye": corner}, (2, 2))
  np.testing.assert_array_equal(labels, [[4, 3], [3, 3]])
  labels = layout.compose_label_map({"cloth": corner, "neck": full}, (2, 2))
  assert labels[0, 0] == layout.CLASS_ID["cloth"]
  assert labels.dtype == np.uint8


def test_compose_without_parts_is_background():
  labels = layout.compose_label_map({}, (3, 4))
  assert labels.shape == (3, 4) and not labels.any()


def test_flip_class_swaps_left_and_right_only():
  flip = layout.FLIP_CLASS
  assert flip[layout.CLASS_ID["l_eye"]] == layout.CLASS_ID["r_eye"]
  assert flip[layout.CLASS_ID["r_brow"]] == layout.CLASS_ID["l_brow"]
  assert flip[layout.CLASS_ID["l_ear"]] == layout.CLASS_ID["r_ear"]
  assert flip[layout.CLASS_ID["ear_r"]] == layout.CLASS_ID["ear_r"]
  np.testing.assert_array_equal(flip[flip], np.arange(19))
  assert (flip != np.arange(19)).sum() == 6


def test_mapping_and_identities_round_trip(tmp_path):
  mapping = str(tmp_path / "map.txt")
  layout.write_mapping(mapping, [0, 1, 5])
  assert layout.read_mapping(mapping) == {
      0: "000001.jpg", 1: "000002.jpg", 5: "000006.jpg"}
  ids = str(tmp_path / "ids.txt")
  layout.write_identities(ids, {"000001.jpg": 7, "000002.jpg": 3})
  assert open(ids).read() == "000001.jpg 7\n000002.jpg 3\n"
  assert layout.read_identities(ids) == {"000001.jpg": 7, "000002.jpg": 3}


def test_bad_identity_line_names_file_and_line(tmp_path):
  ids = tmp_path / "ids.txt"
  ids.write_text("000001.jpg 7\n000002.jpg seven\n")
  with pytest.raises(ValueError, match=r"ids\.txt:2: expected"):
    layout.read_identities(str(ids))


def test_list_helpers(tmp_path):
  root = str(tmp_path)
  os.makedirs(os.path.join(root, layout.IMAGE_DIR))
  for name in ("3.jpg", "10.jpg", "notes.txt", "x.jpg"):
    open(os.path.join(root, layout.IMAGE_DIR, name), "w").close()
  assert layout.list_image_ids(root) == [3, 10]
  os.makedirs(os.path.dirname(layout.mask_path(root, 3, "skin")))
  for part in ("skin", "hat"):
    open(layout.mask_path(root, 3, part), "w").close()
  assert layout.list_mask_paths(root) == {
      3: {"skin": layout.mask_path(root, 3, "skin"),
          "hat": layout.mask_path(root, 3, "hat")}}
