"""Tests for the unpaired photo/anime set: anime, domains, unpaired."""

import json
import logging
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

import files_on_disk  # pylint: disable=g-bad-import-order
from s2f_tf import pixels
from s2f_tf.data import anime
from s2f_tf.data import decode
from s2f_tf.data import domains
from s2f_tf.data import layout
from s2f_tf.data import synth
from s2f_tf.data import unpaired

IDENTITIES, PER_IDENTITY, SIZE, SEED = 12, 3, 32, 5
FRACTION = 0.34  # 4 test people: 2 in testA, 2 in testB; 4 + 4 to train.
_C = layout.CLASS_ID


@pytest.fixture(scope="module")
def root(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("unpaired") / "set")
  summary = anime.write_unpaired_set(out, IDENTITIES, PER_IDENTITY, SIZE,
                                     SEED, FRACTION)
  assert summary["images"] == dict(trainA=12, trainB=12, testA=6, testB=6)
  return out


@pytest.fixture
def copy(root, tmp_path):
  """A private copy of the set to damage."""
  out = str(tmp_path / "copy")
  shutil.copytree(root, out)
  return out


def _shot(name):
  """(person, idx) of a synthetic file name '{person:05d}_{k:03d}.png'."""
  person, k = (int(x) for x in name[:-4].split("_"))
  return person, (person - 1) * PER_IDENTITY + k


# The synthetic set.


def test_same_seed_same_bytes_for_any_worker_count(root, tmp_path):
  again = str(tmp_path / "again")
  anime.write_unpaired_set(again, IDENTITIES, PER_IDENTITY, SIZE, SEED,
                           FRACTION, workers=1)
  assert files_on_disk.all_files(again) == files_on_disk.all_files(root)
  for render in (synth.render_face, anime.render_anime):
    assert not np.array_equal(render(SEED, 1, 0, SIZE)[0],
                              render(SEED + 1, 1, 0, SIZE)[0])


def test_every_person_is_in_exactly_one_split(root):
  with open(os.path.join(root, domains.METADATA_FILE)) as f:
    meta = json.load(f)
  people = [set(meta["people"][split]) for split in domains.SPLITS]
  assert sum(map(len, people)) == IDENTITIES
  assert set().union(*people) == set(range(1, IDENTITIES + 1))
  for split, mine in zip(domains.SPLITS, people):
    names = sorted(os.listdir(os.path.join(root, split)))
    assert {_shot(n)[0] for n in names} == mine
    assert meta["identities"][split] == {n: _shot(n)[0] for n in names}
    assert len(domains.load_domain(root, split, SIZE)) == len(names)


def test_hidden_truths_share_test_names_and_are_the_true_renderings(root):
  for split, hidden in domains.DIRECTIONS.values():
    names = sorted(os.listdir(os.path.join(root, split)))
    truth_dir = os.path.join(root, domains.HIDDEN_DIR, hidden)
    label_dir = os.path.join(root, domains.HIDDEN_DIR, domains.LABEL_DIR,
                             hidden)
    assert sorted(os.listdir(truth_dir)) == names
    assert sorted(os.listdir(label_dir)) == names
    mine, other = ((synth.render_face, anime.render_anime) if split == "testA"
                   else (anime.render_anime, synth.render_face))
    for name in names:
      person, idx = _shot(name)
      read = lambda path, mode: decode.read_image(path, mode)
      np.testing.assert_array_equal(
          read(os.path.join(root, split, name), "rgb"),
          mine(SEED, person, idx, SIZE)[0])
      truth, labels = other(SEED, person, idx, SIZE)
      np.testing.assert_array_equal(
          read(os.path.join(truth_dir, name), "rgb"), truth)
      np.testing.assert_array_equal(
          read(os.path.join(label_dir, name), "mask"), labels)


def _head(labels):
  return np.isin(labels, [_C[p] for p in ("skin", "nose", "l_eye", "r_eye",
                                           "l_brow", "r_brow", "eye_g",
                                           "u_lip", "l_lip", "mouth")])


def _shots(size=64, n=12):
  """(photo, photo labels, anime, anime labels) of n people at `size`."""
  return [synth.render_face(SEED, p, 7 * p, size) +
          anime.render_anime(SEED, p, 7 * p, size) for p in range(1, n + 1)]


def test_anime_twin_has_the_photos_pose():
  for photo_labels, anime_labels in ((s[1], s[3]) for s in _shots()):
    a, b = photo_labels > 0, anime_labels > 0  # The person's silhouette.
    assert (a & b).sum() / (a | b).sum() > 0.93
    # Drawn at 4x and sampled at block centres: no sub-pixel drift.
    centre = lambda m: np.argwhere(m).mean(axis=0)
    assert np.abs(centre(a) - centre(b)).max() < 0.4


def _luma(image):
  return image.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])


def test_anime_is_flat_outlined_with_bigger_eyes_and_smaller_nose_mouth():
  kernel = np.ones((5, 5), np.uint8)
  flat = {"photo": [], "anime": []}
  ratios = []
  for photo, photo_labels, drawn, labels in _shots():
    for name, image, lab in (("photo", photo, photo_labels),
                             ("anime", drawn, labels)):
      inside = cv2.erode((lab == _C["skin"]).astype(np.uint8), kernel) > 0
      # Distinct colours and local variance well inside the cheek skin.
      flat[name].append((len(np.unique(image[inside], axis=0)),
                         np.abs(cv2.Laplacian(_luma(image), cv2.CV_32F))
                         [inside].mean()))
    head = _head(labels).astype(np.uint8)
    edge = cv2.morphologyEx(head, cv2.MORPH_GRADIENT, np.ones((3, 3))) > 0
    inside = cv2.erode((labels == _C["skin"]).astype(np.uint8), kernel) > 0
    ratios.append((_luma(drawn)[edge].mean() / _luma(drawn)[inside].mean(),
                   _luma(photo)[edge].mean() / _luma(photo)[inside].mean()))
  photo_flat, anime_flat = np.array(flat["photo"]), np.array(flat["anime"])
  assert anime_flat[:, 0].max() <= 2 and photo_flat[:, 0].min() > 20
  assert anime_flat[:, 1].max() < 1.0 < 4.0 < photo_flat[:, 1].min()
  ratios = np.array(ratios)  # Face outline / skin luminance.
  assert (ratios[:, 0] < 0.85 * ratios[:, 1]).all()
  assert ratios[:, 0].mean() < 0.7 < 0.85 < ratios[:, 1].mean()

  def area(parts, which):
    return sum(np.isin(s[which], [_C[p] for p in parts]).sum()
               for s in _shots())
  assert area(("l_eye", "r_eye"), 3) > 1.8 * area(("l_eye", "r_eye"), 1)
  assert area(("nose",), 3) < 0.3 * area(("nose",), 1)
  lips = ("mouth", "u_lip", "l_lip")
  assert area(lips, 3) < 0.5 * area(lips, 1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(identities=3), "identities >= 4"),
    (dict(test_fraction=1.0), r"test_fraction must be in \(0, 1\)"),
    (dict(identities=5, test_fraction=0.8), "leave 1 for trainA and trainB"),
])
def test_rejects_bad_arguments(tmp_path, kwargs, match):
  args = {**dict(identities=8, per_identity=1, size=SIZE, seed=0), **kwargs}
  with pytest.raises(ValueError, match=match):
    anime.write_unpaired_set(str(tmp_path / "x"), **args)


def test_refuses_a_directory_that_holds_files(root):
  with pytest.raises(FileExistsError, match=root):
    anime.write_unpaired_set(root, 8, 1, SIZE, SEED)


# The reader.


def _remove(path):
  shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def _write_bytes(path, data):
  with open(path, "wb") as f:
    f.write(data)


@pytest.mark.parametrize("damage, split, message", [
    (lambda r: _remove(os.path.join(r, "trainB")), "trainB",
     "{root} has no trainB/ folder: expected the U-GAT-IT layout trainA/ "
     "trainB/ testA/ testB/"),
    (lambda r: [_remove(os.path.join(r, "trainB", n))
                for n in os.listdir(os.path.join(r, "trainB"))], "trainB",
     "{root}/trainB holds no .jpg/.jpeg/.png image"),
    (lambda r: [_write_bytes(os.path.join(r, "testA", n), b"<html>")
                for n in os.listdir(os.path.join(r, "testA"))], "testA",
     "no usable image in {root}/testA: all 6 were skipped"),
    (lambda r: _remove(r), "trainA", "unpaired data folder {root} not found"),
])
def test_unusable_folders_fail_with_one_line_naming_them(copy, damage, split,
                                                         message):
  damage(copy)
  with pytest.raises(domains.UnpairedDataError) as e:
    domains.load_domain(copy, split, SIZE)
  assert isinstance(e.value, ValueError)
  assert message.format(root=copy) in str(e.value)
  assert "\n" not in str(e.value)


def test_bad_metadata_names_the_file(copy):
  path = os.path.join(copy, domains.METADATA_FILE)
  with open(path, "w") as f:
    f.write('{"identities": ["trainA"]}')
  with pytest.raises(domains.UnpairedDataError, match=f"{path}: cannot read"):
    domains.load_domain(copy, "trainA", SIZE)


def test_bad_files_are_skipped_counted_and_logged(copy, caplog):
  folder = os.path.join(copy, "trainA")
  first = sorted(os.listdir(folder))[0]
  with open(os.path.join(folder, first), "rb") as f:
    data = f.read()
  _write_bytes(os.path.join(folder, "cut.png"), data[:len(data) // 3])
  _write_bytes(os.path.join(folder, "page.jpg"), b"<html>404</html>")
  with caplog.at_level(logging.INFO, logger="absl"):
    domain = domains.load_domain(copy, "trainA", SIZE)
  assert len(domain) == 12
  assert sorted(domain.skipped) == [os.path.join(folder, "cut.png"),
                                    os.path.join(folder, "page.jpg")]
  counts = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("Loaded 12 images from")]
  assert counts == [f"Loaded 12 images from {folder} at {SIZE} px; "
                    "skipped 2"]


def test_a_test_image_of_another_size_is_resized_and_keeps_its_truth(copy):
  folder = os.path.join(copy, "testA")
  name = sorted(os.listdir(folder))[0]
  original = decode.read_image(os.path.join(folder, name), "rgb")
  big = cv2.resize(original, (48, 60), interpolation=cv2.INTER_CUBIC)
  decode.write_png(os.path.join(folder, name), big)
  pairs = domains.load_test_pairs(copy, SIZE)["a2b"]
  assert pairs.inputs.names[0] == name
  np.testing.assert_array_equal(pairs.inputs.images[0],
                                decode.fit_square(big, SIZE))
  assert pairs.inputs.images.shape == (6, SIZE, SIZE, 3)
  person, idx = _shot(name)
  np.testing.assert_array_equal(pairs.truths[0],
                                anime.render_anime(SEED, person, idx,
                                                   SIZE)[0])


def test_test_pairs_are_row_aligned_with_their_truths(root):
  pairs = domains.load_test_pairs(root, 16)
  for direction, render in (("a2b", anime.render_anime),
                            ("b2a", synth.render_face)):
    got = pairs[direction]
    assert len(got.inputs) == len(got.truths) == len(got.truth_labels) == 6
    for row, name in enumerate(got.inputs.names):
      person, idx = _shot(name)
      assert got.inputs.identities[row] == person
      truth, labels = render(SEED, person, idx, SIZE)
      np.testing.assert_array_equal(got.truths[row],
                                    decode.fit_square(truth, 16))
      np.testing.assert_array_equal(
          got.truth_labels[row],
          cv2.resize(labels, (16, 16), interpolation=cv2.INTER_NEAREST))


def test_test_pairs_without_hidden_or_with_a_missing_truth(copy):
  truth_dir = os.path.join(copy, domains.HIDDEN_DIR, "testB_in_A")
  missing = os.path.join(truth_dir, sorted(os.listdir(truth_dir))[2])
  os.remove(missing)
  pairs = domains.load_test_pairs(copy, SIZE)
  assert len(pairs["b2a"].inputs) == len(pairs["b2a"].truths) == 5
  assert pairs["b2a"].inputs.skipped == {missing: "missing"}
  shutil.rmtree(os.path.join(copy, domains.HIDDEN_DIR))
  pairs = domains.load_test_pairs(copy, SIZE)
  assert pairs["a2b"].truths is None and pairs["a2b"].truth_labels is None
  assert len(pairs["a2b"].inputs) == 6


# The batch pipeline.


def _rows(images, domain):
  """Row of `domain` holding each of `images` (float [-1, 1])."""
  table = pixels.to_unit(domain.images).reshape(len(domain), -1)
  flat = images.reshape(len(images), -1)
  match = (np.abs(flat[:, None] - table[None]).max(axis=2) == 0)
  assert (match.sum(axis=1) >= 1).all()
  return match.argmax(axis=1)


def test_synthetic_batches_are_unpaired_shuffled_and_deterministic(root):
  a, b = (domains.load_domain(root, s, SIZE) for s in ("trainA", "trainB"))
  batches = list(unpaired.make_unpaired_dataset(a, b, 4, seed=1).take(6))
  for batch in batches:
    for key in ("a", "b"):
      value = batch[key].numpy()
      assert value.shape == (4, SIZE, SIZE, 3) and value.dtype == np.float32
      assert -1.0 <= value.min() and value.max() <= 1.0
  rows_a = np.concatenate([_rows(x["a"].numpy(), a) for x in batches])
  rows_b = np.concatenate([_rows(x["b"].numpy(), b) for x in batches])
  # Each epoch (3 batches of 4 of 12 images) shows every image once ...
  for epoch in (rows_a[:12], rows_a[12:], rows_b[:12], rows_b[12:]):
    assert sorted(epoch) == list(range(12))
  # ... in an order of its own per domain and per epoch.
  assert list(rows_a[:12]) != list(rows_b[:12])
  assert list(rows_a[:12]) != list(rows_a[12:])
  for x in batches:
    assert not set(a.identities[_rows(x["a"].numpy(), a)]) & set(
        b.identities[_rows(x["b"].numpy(), b)])
  again = list(unpaired.load_train_dataset(root, SIZE, 4, seed=1).take(6))
  for x, y in zip(batches, again):
    np.testing.assert_array_equal(x["a"].numpy(), y["a"].numpy())
    np.testing.assert_array_equal(x["b"].numpy(), y["b"].numpy())


def _domain(name, people):
  """Image row r is filled with r (A) or 100 + r (B), to find it again."""
  start = 0 if name == "A" else 100
  images = np.zeros((len(people), 4, 4, 3), np.uint8)
  images += np.arange(start, start + len(people), dtype=np.uint8)[
      :, None, None, None]
  return domains.Domain(folder=f"/sets/train{name}", images=images,
                        names=tuple(f"{r}.png" for r in range(len(people))),
                        identities=np.array(people, np.int32), skipped={})


def test_a_batch_never_holds_one_person_in_both_domains():
  a = _domain("A", [1, 1, 2, 2, 3, 3, 4, 4, -1])
  b = _domain("B", [1, 2, 3, 4, 5, 5, 6, 6, -1])
  seen_b = []
  for batch in unpaired.make_unpaired_dataset(a, b, 3, seed=2).take(200):
    rows_a = _rows(batch["a"].numpy(), a)
    rows_b = _rows(batch["b"].numpy(), b)
    people_a = set(a.identities[rows_a]) - {-1}
    assert not people_a & set(b.identities[rows_b])
    seen_b += list(rows_b)
  # Shared people's B images are still used, in batches without them in A.
  assert set(seen_b) == set(range(len(b)))


def test_domains_sharing_every_person_fail_with_the_folders():
  a, b = _domain("A", [1, 2, 3]), _domain("B", [1, 2, 2])
  with pytest.raises(domains.UnpairedDataError,
                     match="every person of /sets/trainB is also in "
                     "/sets/trainA and one batch of 2 can hold all 2"):
    unpaired.make_unpaired_dataset(a, b, 2)
  unpaired.make_unpaired_dataset(a, b, 1)  # One A person leaves another.


# The command.


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "s2f_tf.cli.data_main", *args],
                        capture_output=True, text=True, timeout=120)


def test_cli_writes_the_anime_set_and_reports_bad_arguments(tmp_path):
  out = str(tmp_path / "cli")
  result = _cli("synth", "--style=anime", f"--out={out}", "--identities=4",
                "--per_identity=1", "--size=16", "--test_fraction=0.5")
  assert result.returncode == 0, result.stderr
  assert ("unpaired photo -> anime set of 4 people to "
          f"{out} (trainA 1, trainB 1, testA 1, testB 1 images") in (
              result.stdout)
  assert sorted(os.listdir(out)) == sorted(
      ["README.md", domains.METADATA_FILE, domains.HIDDEN_DIR,
       *domains.SPLITS])
  result = _cli("synth", "--style=anime", f"--out={tmp_path / 'bad'}",
                "--identities=4", "--test_fraction=0.9")
  assert result.returncode == 2
  assert "leave 0 for trainA and trainB" in result.stderr
  assert "Traceback" not in result.stderr
