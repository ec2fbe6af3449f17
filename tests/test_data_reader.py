"""Tests for s2f_tf.data.reader: loading, bad input, cache, splits."""

import dataclasses
import json
import logging
import os
import shutil

import cv2
import numpy as np
import pytest

from s2f_tf import config
from s2f_tf.data import decode
from s2f_tf.data import layout
from s2f_tf.data import reader
from s2f_tf.data import sketch
from s2f_tf.data import synth

IDENTITIES, PER_IDENTITY, SIZE, SEED = 6, 4, 32, 1
N = IDENTITIES * PER_IDENTITY


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("pristine") / "faces")
  synth.write_synthetic_faces(root, IDENTITIES, PER_IDENTITY, SIZE, SEED)
  return root


@pytest.fixture
def root(pristine, tmp_path):
  """A fresh copy each test may damage."""
  copy = str(tmp_path / "faces")
  shutil.copytree(pristine, copy,
                  ignore=shutil.ignore_patterns(reader.CACHE_DIR))
  return copy


def _write(path, image):
  assert cv2.imwrite(path, image)


def test_loads_every_sample(root):
  faces = reader.load_face_set(root, 16)
  assert len(faces) == N and faces.skipped == {}
  assert faces.photos.shape == (N, 16, 16, 3)
  assert faces.sketches.shape == (N, 16, 16, 1)
  assert faces.masks.shape == (N, 16, 16)
  assert faces.photos.dtype == faces.sketches.dtype == faces.masks.dtype == (
      np.uint8)
  np.testing.assert_array_equal(faces.image_ids, np.arange(N))
  np.testing.assert_array_equal(faces.identities,
                                np.arange(N) // PER_IDENTITY + 1)
  assert faces.masks.max() < layout.NUM_CLASSES


def test_native_size_round_trips_the_synthetic_labels(root):
  faces = reader.load_face_set(root, SIZE)
  for row in (0, 13):
    _, labels = synth.render_face(SEED, row // PER_IDENTITY + 1, row, SIZE)
    np.testing.assert_array_equal(faces.masks[row], labels)


def _truncate_jpeg(root):
  path = layout.image_path(root, 5)
  data = open(path, "rb").read()
  open(path, "wb").write(data[:len(data) // 2])
  return path, "truncated JPEG"


def _text_as_jpeg(root):
  path = layout.image_path(root, 6)
  open(path, "w").write("<html>404 Not Found</html>")
  return path, "not a decodable image"


def _wrong_size_mask(root):
  path = layout.mask_path(root, 7, "skin")
  _write(path, np.full((12, 20), 255, np.uint8))
  return path, "expected the same aspect ratio"


def _half_size_part(root):
  path = layout.mask_path(root, 10, "skin")
  mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
  _write(path, cv2.resize(mask, (SIZE // 2, SIZE // 2),
                          interpolation=cv2.INTER_NEAREST))
  return path, (f"face 10: is 16x16 but {layout.mask_path(root, 10, 'nose')}"
                " (and the face's other parts) is 32x32")


def _both_eyes_in_l_eye(root):
  """An l_eye file that holds the r_eye too: they share all of r_eye."""
  paths = layout.list_mask_paths(root)[11]
  left = cv2.imread(paths["l_eye"], cv2.IMREAD_GRAYSCALE)
  right = cv2.imread(paths["r_eye"], cv2.IMREAD_GRAYSCALE)
  _write(paths["l_eye"], np.maximum(left, right))
  shared = int(np.count_nonzero(right > 127))
  return paths["l_eye"], (
      f"face 11: shares {shared} pixels with {paths['r_eye']}, 100% of the "
      "smaller part (a border seam stays under 50%); l_eye and r_eye never "
      "overlap on a face, so one file is mislabelled (an l_eye file holding "
      "both eyes, say): fix or remove it")


def _missing_masks(root):
  for path in layout.list_mask_paths(root)[8].values():
    os.remove(path)
  return layout.mask_path(root, 8, "*"), "missing"


def _missing_sketch(root):
  path = layout.sketch_path(root, 9)
  os.remove(path)
  return path, "missing"


@pytest.mark.parametrize("damage", [_truncate_jpeg, _text_as_jpeg,
                                    _wrong_size_mask, _half_size_part,
                                    _both_eyes_in_l_eye, _missing_masks,
                                    _missing_sketch])
def test_bad_sample_is_skipped_counted_and_logged_once(root, damage, caplog):
  bad_path, reason = damage(root)
  with caplog.at_level(logging.WARNING, logger="absl"):
    faces = reader.load_face_set(root, 16)
    again = reader.load_face_set(root, 16)  # From the cache.
  assert len(faces) == len(again) == N - 1
  assert list(faces.skipped) == [bad_path]
  assert reason in faces.skipped[bad_path]
  assert again.skipped == faces.skipped
  assert sum(bad_path in r.getMessage() for r in caplog.records) == 1


def test_convertible_inputs_are_converted(root, pristine):
  reference = reader.load_face_set(pristine, SIZE)
  photo = decode.read_image(layout.image_path(root, 1), "rgb")
  gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
  _write(layout.image_path(root, 1), gray)  # Grayscale JPEG.
  skin = layout.mask_path(root, 2, "skin")
  mask = cv2.imread(skin, cv2.IMREAD_GRAYSCALE)
  _write(skin, mask.astype(np.uint16) * 257)  # 16-bit PNG mask.
  skin = layout.mask_path(root, 3, "skin")
  alpha = cv2.imread(skin, cv2.IMREAD_GRAYSCALE)
  _write(skin, np.dstack([np.full_like(alpha, 255)] * 3 + [alpha]))  # White
  # part on a transparent sheet: only compositing over black recovers it.
  lines = cv2.imread(layout.sketch_path(root, 4), cv2.IMREAD_GRAYSCALE)
  _write(layout.sketch_path(root, 4),
         np.dstack([np.zeros_like(lines)] * 3 + [255 - lines]))  # RGBA ink.
  faces = reader.load_face_set(root, SIZE)
  assert faces.skipped == {} and len(faces) == N
  np.testing.assert_array_equal(faces.photos[1, :, :, 0],
                                faces.photos[1, :, :, 2])
  assert np.abs(faces.photos[1, :, :, 0].astype(int) - gray).max() <= 1
  np.testing.assert_array_equal(faces.masks[2], reference.masks[2])
  np.testing.assert_array_equal(faces.masks[3], reference.masks[3])
  assert np.abs(faces.sketches[4].astype(int) -
                reference.sketches[4]).max() <= 1


def test_masks_may_be_smaller_than_photos(root, pristine):
  for path in layout.list_mask_paths(root)[0].values():
    small = cv2.imread(path, cv2.IMREAD_GRAYSCALE)[::2, ::2]
    _write(path, small)
  faces = reader.load_face_set(root, 16)
  assert faces.skipped == {}
  np.testing.assert_array_equal(faces.masks[0],
                                reader.load_face_set(pristine, 16).masks[0])


def test_cache_is_used_and_invalidated(root, monkeypatch):
  first = reader.load_face_set(root, 16)
  assert len(os.listdir(os.path.join(root, reader.CACHE_DIR))) == 1
  with monkeypatch.context() as m:
    m.setattr(decode, "read_image", None)  # Any decode would crash.
    cached = reader.load_face_set(root, 16)
  np.testing.assert_array_equal(cached.photos, first.photos)
  _write(layout.image_path(root, 0), np.zeros((SIZE, SIZE, 3), np.uint8))
  changed = reader.load_face_set(root, 16)
  assert changed.photos[0].max() == 0 and first.photos[0].max() > 0
  assert len(os.listdir(os.path.join(root, reader.CACHE_DIR))) == 1


def test_sketches_drawn_when_folder_absent_or_method_differs(root):
  shutil.rmtree(os.path.join(root, layout.SKETCH_DIR))
  faces = reader.load_face_set(root, 16, sketch_method="canny")
  assert sketch.read_method(root) == "canny" and len(faces) == N
  reader.load_face_set(root, 16, sketch_method="mask_edges")
  assert sketch.read_method(root) == "mask_edges"


def test_identity_file_can_live_elsewhere(root, tmp_path):
  moved = str(tmp_path / "celeba_ids.txt")
  shutil.move(layout.identity_path(root), moved)
  with pytest.raises(FileNotFoundError, match="identity_CelebA.txt"):
    reader.load_face_set(root, 16)
  lines = open(moved).read().splitlines()
  open(moved, "w").write("\n".join(lines[:-1]) + "\n")  # Drop the last one.
  faces = reader.load_face_set(root, 16, identity_file=moved)
  assert len(faces) == N - 1
  assert "no identity" in faces.skipped[layout.image_path(root, N - 1)]


def test_missing_root_names_path_and_layout(tmp_path):
  missing = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="nowhere not found.*"
                     "CelebA-HQ-img"):
    reader.load_face_set(missing, 16)


def test_empty_set_is_an_error(tmp_path):
  os.makedirs(tmp_path / layout.IMAGE_DIR)
  with pytest.raises(ValueError, match="CelebA-HQ-img holds no photos"):
    reader.load_face_set(str(tmp_path), 16)


def test_a_border_seam_between_parts_that_never_overlap_is_kept(root):
  """Lips that share a seam of one row (under half the smaller lip) are a
  hand-drawn border, not a mislabelled file: the face is kept."""
  paths = layout.list_mask_paths(root)[12]
  upper = np.zeros((SIZE, SIZE), np.uint8)
  lower = np.zeros((SIZE, SIZE), np.uint8)
  upper[20:23, 10:22] = 255
  lower[22:25, 10:22] = 255  # Row 22 in both: 12 of 36 pixels, a third.
  _write(paths.get("u_lip", layout.mask_path(root, 12, "u_lip")), upper)
  _write(paths.get("l_lip", layout.mask_path(root, 12, "l_lip")), lower)
  faces = reader.load_face_set(root, SIZE)
  assert faces.skipped == {} and len(faces) == N
  assert layout.inconsistent_overlap({"u_lip": upper > 0,
                                      "l_lip": lower > 0}) is None
  lower[21] = 255  # Two rows of the lower lip's 4: half, then more.
  assert layout.inconsistent_overlap({"u_lip": upper > 0,
                                      "l_lip": lower > 0}) == (
                                          "u_lip", "l_lip", 24, 36)


def test_all_bad_is_an_error(root):
  for idx in range(N):
    open(layout.image_path(root, idx), "w").write("junk")
  with pytest.raises(ValueError, match=f"no usable sample under {root}"):
    reader.load_face_set(root, 16)


def test_split_is_disjoint_deterministic_and_written(root):
  faces = reader.load_face_set(root, 16)
  split = reader.split_identities(faces, 0.34, seed=5, root=root)
  assert len(split["heldout"]) == 2 and len(split["train"]) == 4
  assert not set(split["train"]) & set(split["heldout"])
  assert sorted(split["train"] + split["heldout"]) == list(range(1, 7))
  assert reader.split_identities(faces, 0.34, seed=5) == split
  others = [reader.split_identities(faces, 0.34, seed=s)["heldout"]
            for s in range(6)]
  assert len({tuple(h) for h in others}) > 1
  with open(os.path.join(root, "split_seed5_heldout0.34.json")) as f:
    assert json.load(f)["heldout"] == split["heldout"]
  train = reader.select(faces, split["train"])
  assert set(train.identities) == set(split["train"]) and len(train) == 16


def test_split_needs_a_training_identity(root):
  faces = reader.load_face_set(root, 16)
  one = reader.select(faces, [3])
  with pytest.raises(ValueError, match="keep one for training"):
    reader.split_identities(one, 0.5, seed=0)
  with pytest.raises(ValueError, match=r"in \[0, 1\)"):
    reader.split_identities(faces, 1.0, seed=0)


def test_load_splits_synthesizes_and_splits(tmp_path):
  data = config.tiny_config(root=str(tmp_path / "synth")).data
  train, heldout = reader.load_splits(data)
  assert len(set(heldout.identities)) == 3
  assert len(set(train.identities)) == 9
  assert not set(train.identities) & set(heldout.identities)
  assert train.photos.shape[1:] == (16, 16, 3)


def test_load_splits_errors(tmp_path):
  data = dataclasses.replace(config.tiny_config().data, synthesize=False,
                             root=str(tmp_path / "absent"))
  with pytest.raises(FileNotFoundError, match="absent not found"):
    reader.load_splits(data)
  data = dataclasses.replace(config.tiny_config().data,
                             root=str(tmp_path / "synth"), k_refs=5)
  with pytest.raises(ValueError, match="train split .* no identity with at "
                     "least 6 photos"):
    reader.load_splits(data)
