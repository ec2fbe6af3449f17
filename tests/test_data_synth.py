"""Tests for s2f_tf.data.synth: layout, round trip, determinism."""

import os
import subprocess
import sys

import numpy as np
import pytest

import files_on_disk  # pylint: disable=g-bad-import-order
from s2f_tf.data import decode
from s2f_tf.data import layout
from s2f_tf.data import sketch
from s2f_tf.data import synth

IDENTITIES, PER_IDENTITY, SIZE, SEED = 6, 4, 32, 3


@pytest.fixture(scope="module")
def root(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("synth") / "faces")
  summary = synth.write_synthetic_faces(out, IDENTITIES, PER_IDENTITY, SIZE,
                                        SEED)
  assert summary["images"] == IDENTITIES * PER_IDENTITY
  return out


def test_writes_the_celebamask_hq_layout(root):
  n = IDENTITIES * PER_IDENTITY
  assert layout.list_image_ids(root) == list(range(n))
  masks = layout.list_mask_paths(root)
  assert sorted(masks) == list(range(n))
  assert all("skin" in parts for parts in masks.values())
  assert all(os.path.exists(layout.sketch_path(root, i)) for i in range(n))
  assert sketch.read_method(root) == "xdog"
  photo = decode.read_image(layout.image_path(root, 0), "rgb")
  assert photo.shape == (SIZE, SIZE, 3)


def test_identity_file_joins_through_mapping(root):
  mapping = layout.read_mapping(layout.mapping_path(root))
  identities = layout.read_identities(layout.identity_path(root))
  joined = [identities[mapping[i]] for i in range(IDENTITIES * PER_IDENTITY)]
  assert joined == [i // PER_IDENTITY + 1
                    for i in range(IDENTITIES * PER_IDENTITY)]


def test_round_trip_masks_and_photo(root):
  for identity, idx in ((1, 0), (3, 9), (6, 23)):
    photo, labels = synth.render_face(SEED, identity, idx, SIZE)
    stored = decode.read_label_map(root, idx,
                                   layout.list_mask_paths(root)[idx],
                                   (SIZE, SIZE), (SIZE, SIZE))
    np.testing.assert_array_equal(stored, labels)
    decoded = decode.read_image(layout.image_path(root, idx), "rgb")
    assert np.abs(decoded.astype(int) - photo).mean() < 6.0  # JPEG noise.


def test_identity_style_is_shared_and_photos_vary(root):
  def skin_colour(idx):
    photo, labels = synth.render_face(SEED, idx // PER_IDENTITY + 1, idx,
                                      SIZE)
    return np.median(photo[labels == layout.CLASS_ID["skin"]], axis=0)
  same = np.abs(skin_colour(0) - skin_colour(1)).max()
  other = max(np.abs(skin_colour(0) - skin_colour(i * PER_IDENTITY)).max()
              for i in range(1, IDENTITIES))
  assert same < 25 < other
  first, _ = synth.render_face(SEED, 1, 0, SIZE)
  second, _ = synth.render_face(SEED, 1, 1, SIZE)
  assert np.abs(first.astype(int) - second).mean() > 3  # Pose, expression.


def test_same_seed_same_files_for_any_worker_count(tmp_path, root):
  again = str(tmp_path / "again")
  synth.write_synthetic_faces(again, IDENTITIES, PER_IDENTITY, SIZE, SEED,
                              workers=1)
  assert files_on_disk.all_files(again) == files_on_disk.all_files(root)
  other = str(tmp_path / "other")
  synth.write_synthetic_faces(other, IDENTITIES, PER_IDENTITY, SIZE, SEED + 1)
  original = files_on_disk.all_files(root)
  differing = [k for k, v in files_on_disk.all_files(other).items()
               if k.endswith(".jpg") and original[k] != v]
  assert len(differing) == IDENTITIES * PER_IDENTITY


def test_refuses_a_directory_that_holds_files(root):
  with pytest.raises(FileExistsError, match=root):
    synth.write_synthetic_faces(root, 1, 1, SIZE, SEED)


@pytest.mark.parametrize("kwargs, match", [
    (dict(identities=0), "identities >= 1"),
    (dict(size=8), "size >= 16"),
    (dict(sketch_method="pencil"), "unknown sketch method 'pencil'"),
])
def test_rejects_bad_arguments(tmp_path, kwargs, match):
  args = {**dict(identities=2, per_identity=2, size=SIZE, seed=0), **kwargs}
  with pytest.raises(ValueError, match=match):
    synth.write_synthetic_faces(str(tmp_path / "x"), **args)


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "s2f_tf.cli.data_main", *args],
                        capture_output=True, text=True, timeout=120)


def test_cli_writes_and_sketches(tmp_path):
  out = str(tmp_path / "cli")
  result = _cli("synth", f"--out={out}", "--identities=2", "--per_identity=2",
                "--size=16", "--seed=4")
  assert result.returncode == 0, result.stderr
  assert "Wrote 4 faces of 2 identities" in result.stdout
  assert layout.list_image_ids(out) == [0, 1, 2, 3]
  result = _cli("sketch", f"--root={out}", "--method=mask_edges")
  assert result.returncode == 0, result.stderr
  assert sketch.read_method(out) == "mask_edges"


@pytest.mark.parametrize("args, message", [
    (("sketch", "--root=/no/such/faces"), "/no/such/faces/CelebA-HQ-img not "
     "found"),
    (("paint",), "expected one command, synth or sketch"),
    (("synth",), "synth needs --out DIR"),
])
def test_cli_errors_are_one_line_not_tracebacks(args, message):
  result = _cli(*args)
  assert result.returncode != 0
  assert message in result.stderr
  assert "Traceback" not in result.stderr
