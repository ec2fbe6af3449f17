"""Tests for s2f_tf.data.episodes: refs, skipping, flips, static shapes."""

import logging

import numpy as np
import pytest

from s2f_tf.data import episodes
from s2f_tf.data import layout
from s2f_tf.data import reader

S, B, K = 8, 4, 2
# Identity 70 has only K photos, so it can never be a target or a ref.
COUNTS = {10: 3, 20: 4, 30: 5, 40: 3, 50: 6, 60: 3, 70: 2}
L_EYE, R_EYE, SKIN = (layout.CLASS_ID[p] for p in ("l_eye", "r_eye", "skin"))


def _face_set() -> reader.FaceSet:
  """Row i's photo reads i on its left half and 100 + i on its right half,
  so any image names its row and shows whether it was mirrored."""
  identities = np.repeat(list(COUNTS), list(COUNTS.values())).astype(np.int32)
  rng = np.random.default_rng(0)
  identities = identities[rng.permutation(len(identities))]  # Interleave.
  n = len(identities)
  photos = np.zeros((n, S, S, 3), np.uint8)
  photos[:, :, :S // 2] = np.arange(n)[:, None, None, None]
  photos[:, :, S // 2:] = 100 + np.arange(n)[:, None, None, None]
  masks = np.full((n, S, S), SKIN, np.uint8)
  masks[:, :, :S // 2] = L_EYE
  return reader.FaceSet(photos=photos, sketches=photos[..., :1].copy(),
                        masks=masks, identities=identities,
                        image_ids=np.arange(n, dtype=np.int32) + 1000,
                        skipped={})


def _rows(images: np.ndarray) -> np.ndarray:
  """Row of each [..., H, W, C] image in [-1, 1], whichever way it faces."""
  pixels = np.rint((images[..., 0, [0, -1], 0] + 1) * 127.5).astype(int)
  return pixels.min(axis=-1)


def _batches(count, **kwargs):
  ds = episodes.make_episode_dataset(_face_set(), B, K, **kwargs)
  return [{k: v.numpy() for k, v in b.items()} for b in ds.take(count)]


def test_static_shapes_and_value_ranges():
  ds = episodes.make_episode_dataset(_face_set(), B, K)
  spec = ds.element_spec
  assert spec["sketch"].shape == (B, S, S, 1)
  assert spec["photo"].shape == (B, S, S, 3)
  assert spec["refs"].shape == (B, K, S, S, 3)
  assert spec["mask"].shape == (B, S, S) and spec["mask"].dtype.name == "int32"
  assert spec["identity"].shape == (B,) and spec["index"].shape == (B,)
  batch = next(iter(ds))
  for name in ("sketch", "photo", "refs"):
    values = batch[name].numpy()
    assert values.dtype == np.float32
    assert values.min() >= -1.0 and values.max() <= 1.0
  faces = _face_set()
  unflipped = _batches(1, flip=False)[0]
  np.testing.assert_allclose(
      unflipped["photo"], faces.photos[unflipped["index"]] / 127.5 - 1.0,
      atol=1e-6)
  np.testing.assert_array_equal(unflipped["mask"],
                                faces.masks[unflipped["index"]])


def test_refs_share_identity_exclude_target_and_are_distinct():
  faces = _face_set()
  for batch in _batches(60):
    np.testing.assert_array_equal(_rows(batch["photo"]), batch["index"])
    np.testing.assert_array_equal(faces.identities[batch["index"]],
                                  batch["identity"])
    refs = _rows(batch["refs"])  # [B, K]
    np.testing.assert_array_equal(faces.identities[refs],
                                  np.repeat(batch["identity"][:, None], K, 1))
    assert not (refs == batch["index"][:, None]).any()
    assert all(len(set(r)) == K for r in refs)


def test_small_identities_are_skipped_and_counted(caplog):
  faces = _face_set()
  with caplog.at_level(logging.INFO, logger="absl"):
    seen = np.concatenate([b["identity"] for b in _batches(80)])
  assert 70 not in seen
  assert set(seen) == set(COUNTS) - {70}
  assert any("skip 1 of 7 identities" in r.getMessage()
             for r in caplog.records)
  assert len(faces) == sum(COUNTS.values())


def test_flips_move_sketch_photo_and_mask_together():
  flipped = kept = 0
  for batch in _batches(40):
    photo, sketch = batch["photo"], batch["sketch"]
    mirrored = photo[:, 0, 0, 0] > photo[:, 0, -1, 0]
    np.testing.assert_array_equal(sketch[:, 0, 0, 0] > sketch[:, 0, -1, 0],
                                  mirrored)
    left, right = batch["mask"][:, 0, 0], batch["mask"][:, 0, -1]
    np.testing.assert_array_equal(left, np.where(mirrored, SKIN, L_EYE))
    np.testing.assert_array_equal(right, np.where(mirrored, R_EYE, SKIN))
    flipped += mirrored.sum()
    kept += (~mirrored).sum()
  assert flipped > 20 and kept > 20


def test_reference_masks_belong_to_their_refs_and_flip_with_them():
  faces = _face_set()
  faces.masks[:, -1, -1] = np.arange(len(faces)) % 19  # Names the row.
  ds = episodes.make_episode_dataset(faces, B, K, flip=False)
  batch = {k: v.numpy() for k, v in next(iter(ds)).items()}
  assert batch["ref_mask"].shape == (B, K, S, S)
  np.testing.assert_array_equal(batch["ref_mask"],
                                faces.masks[_rows(batch["refs"])])
  mirrored_seen = 0
  for batch in _batches(20):
    refs = batch["refs"]
    mirrored = refs[..., 0, 0, 0] > refs[..., 0, -1, 0]  # [B, K]
    left, right = batch["ref_mask"][..., 0, 0], batch["ref_mask"][..., 0, -1]
    np.testing.assert_array_equal(left, np.where(mirrored, SKIN, L_EYE))
    np.testing.assert_array_equal(right, np.where(mirrored, R_EYE, SKIN))
    mirrored_seen += mirrored.sum()
  assert 0 < mirrored_seen < 20 * B * K


def test_no_flip_means_no_mirroring():
  for batch in _batches(10, flip=False):
    assert (batch["photo"][:, 0, 0, 0] < batch["photo"][:, 0, -1, 0]).all()
    assert (batch["refs"][:, :, 0, 0, 0] < batch["refs"][:, :, 0, -1, 0]).all()


def test_same_seed_same_episodes():
  first, again = _batches(5, seed=3), _batches(5, seed=3)
  other = _batches(5, seed=4)
  for a, b in zip(first, again):
    for name in a:
      np.testing.assert_array_equal(a[name], b[name])
  assert any((a["index"] != c["index"]).any() or
             (a["refs"] != c["refs"]).any() for a, c in zip(first, other))


def test_one_pass_visits_each_target_once():
  batches = _batches(100, shuffle=False, repeat=False)
  targets = sum(COUNTS.values()) - COUNTS[70]
  assert len(batches) == targets // B
  seen = np.concatenate([b["index"] for b in batches])
  assert len(set(seen)) == len(seen) == targets // B * B


def test_no_usable_identity_is_an_error():
  with pytest.raises(ValueError, match="no identity has at least 7 photos"):
    episodes.make_episode_dataset(_face_set(), B, 6)


def test_too_few_targets_for_one_pass_is_an_error():
  with pytest.raises(ValueError, match="fewer than one batch of 64"):
    episodes.make_episode_dataset(_face_set(), 64, K, repeat=False)
