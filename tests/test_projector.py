"""Tests for the projector exporter, ending with a real TensorBoard."""

import io
import json
import logging
import os

from google.protobuf import text_format
import numpy as np
from PIL import Image
import pytest
from tensorboard.plugins.projector import projector_config_pb2

from projector import export_embeddings
from projector import exporter
from projector import serve
from projector import sprite


def _points(n=6, d=8, seed=0):
  return np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)


def _config(logdir):
  with open(os.path.join(logdir, exporter.CONFIG_FILENAME)) as f:
    return text_format.Parse(f.read(), projector_config_pb2.ProjectorConfig())


def _read(path, mode="rb"):
  with open(path, mode) as f:
    return f.read()


# ----------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, message", [
    (dict(embeddings=np.zeros(8)), r"shape \(8,\).*\[N, D\]"),
    (dict(embeddings=_points(n=3)), r"3 points.*at least 4.*more samples"),
    (dict(embeddings=_points(d=3)), r"3 values per point.*at least 4"),
    (dict(embeddings=np.zeros((5, 1, 1, 3))), r"3 values per point"),
    (dict(embeddings=np.array([["a"] * 4] * 4)), r"dtype <U1; pass numbers"),
    (dict(embeddings=np.where(np.eye(5, 6) > 0, np.nan, 1.0)),
     r"5 NaN/Inf values .* in 5 rows \(first: row 0\).*drop those rows"),
    (dict(embeddings=np.full((5, 4), np.inf)), r"NaN/Inf values in float32"),
    (dict(metadata=["a"] * 5), r"'metadata' has 5 rows for 6 points"),
    (dict(metadata={"id": range(6), "split": ["a"] * 7}),
     r"'split' has 7 rows for 6 points"),
    (dict(metadata={"id": range(6), "": range(6)}), r"non-empty and unique"),
    (dict(metadata=["a", "b", "", "c", "d", "e"]), r"rows \[2\] are blank"),
    (dict(metadata=np.zeros((6, 2))), r"one label per point"),
    (dict(name="../up"), r"name='../up' is not usable"),
    (dict(name="style:0"), r"is not usable"),
    (dict(images=np.zeros((5, 8, 8, 3), np.uint8)), r"5 images for 6 points"),
    (dict(images=np.zeros((6, 8, 8, 4), np.uint8)), r"\[N, H, W, 3\]"),
    (dict(images=np.zeros((6, 8, 8), np.int32)), r"dtype int32; pass uint8"),
    (dict(images=np.full((6, 8, 8), 0.5), image_range=(-0.2, 0.2)),
     r"outside image_range=\(-0.2, 0.2\).*e.g. \(0, 1\)"),
    (dict(images=np.zeros((6, 8, 8), np.uint8), sprite_tile=0),
     r"sprite_tile=0 .*1 <= sprite_tile <= 2730"),
])
def test_bad_inputs_name_problem_and_fix_and_write_nothing(tmp_path, kwargs,
                                                           message):
  kwargs = {"embeddings": _points(), **kwargs}
  logdir = str(tmp_path / "proj")
  with pytest.raises(ValueError, match=message):
    export_embeddings(logdir, **kwargs)
  assert not os.path.exists(logdir)


def test_sprite_over_8192_px_is_refused(tmp_path):
  n = 83 * 83  # 83 tiles a side: 8192 // 83 = 98 px at most.
  images = np.broadcast_to(np.zeros((1, 4, 4, 3), np.uint8), (n, 4, 4, 3))
  with pytest.raises(ValueError, match=r"8300 px sprite .*sprite_tile <= 98"):
    export_embeddings(str(tmp_path), _points(n=n), images=images,
                      sprite_tile=100)
  with pytest.raises(ValueError, match=r"8193 tiles a side.*images=None"):
    sprite.choose_tile(8192 ** 2 + 1, 64)
  assert sprite.choose_tile(8192 ** 2, 64) == 1


# ------------------------------------------------------------- tensor format

def test_feature_maps_flatten_row_major_to_raw_float32(tmp_path):
  maps = np.random.default_rng(1).standard_normal((5, 2, 3, 4))
  done = export_embeddings(str(tmp_path), maps, name="content")
  expected = maps.reshape(5, -1).astype(np.float32)
  np.testing.assert_array_equal(exporter.flatten_points(maps), expected)
  assert done.tensor_format == "float32" and done.shape == (5, 24)
  assert _read(done.tensor_path) == expected.tobytes()
  info = _config(tmp_path).embeddings[0]
  assert list(info.tensor_shape) == [5, 24]
  assert info.tensor_path == "content/tensor.bin"


def test_binary_check_mirrors_tensorboards_text_first_reader():
  # TensorBoard decodes the file line by line and parses floats; only an
  # undecodable first non-empty line sends it to the raw float32 reader.
  assert exporter.tensorboard_reads_binary(_points().tobytes())
  assert exporter.tensorboard_reads_binary(b"\n\n\xff\x00")
  zeros = np.zeros(8, np.float32).tobytes()
  assert not exporter.tensorboard_reads_binary(zeros)
  assert not exporter.tensorboard_reads_binary(b"\x05\n\xff\xff")


def test_data_tensorboard_would_misread_goes_to_exact_tsv(tmp_path):
  points = _points(n=4, d=5)
  points[0, 0] = np.frombuffer(b"\x05\n\x00\x00", np.float32)[0]  # ~0.4%.
  points[1] = [1 / 3, -2e-38, 3.4e38, 1e-45, 7.0]  # 9 digits: exact float32.
  done = export_embeddings(str(tmp_path), points, name="dead")
  assert done.tensor_format == "tsv"
  assert done.tensor_path.endswith("dead/tensor.tsv")
  np.testing.assert_array_equal(
      np.loadtxt(done.tensor_path, delimiter="\t").astype(np.float32), points)


# ------------------------------------------------------------------ metadata

@pytest.mark.parametrize("metadata, lines", [
    (["a", "b", "c", "d"], ["a", "b", "c", "d"]),
    ({"identity": [1, 2, 3, 4]}, ["1", "2", "3", "4"]),
    ({"id": [1, 2, 3, 4], "split": ["tr", "tr", "ho", "ho\tx"]},
     ["id\tsplit", "1\ttr", "2\ttr", "3\tho", "4\tho x"]),
    (["a\tb", "c\nd", "e", "f"], ["a b", "c d", "e", "f"]),
    (["a\r\nb", "c\x0bd", "e\u2028f", "g\x85h\x00"],
     ["a  b", "c d", "e f", "g h "]),
])
def test_metadata_header_only_for_several_columns(tmp_path, metadata, lines):
  done = export_embeddings(str(tmp_path), _points(n=4), metadata=metadata)
  assert _read(done.metadata_path, "r").split("\n") == lines + [""]


# -------------------------------------------------------------------- sprite

@pytest.mark.parametrize("n, size, tile, side", [
    (4, 8, 8, 2), (5, 8, 8, 3), (10, 32, 32, 4), (10_000, 64, 64, 100),
    (10_000, 128, 81, 100), (10_202, 128, 80, 102)])
def test_sprite_geometry(n, size, tile, side):
  assert sprite.grid_side(n) == side
  assert sprite.choose_tile(n, size) == tile
  assert side * tile <= sprite.MAX_SPRITE_PX


def test_sprite_puts_point_i_in_tile_i_row_major():
  n, tile = 7, 6
  grey = np.linspace(-1, 1, n, dtype=np.float32)
  images = np.broadcast_to(grey[:, None, None, None], (n, 12, 12, 1))
  sheet = sprite.build_sprite(images, tile)  # 12 px images shrink to 6.
  assert sheet.shape == (18, 18, 3)
  for i in range(9):
    y, x = (i // 3) * tile, (i % 3) * tile
    cell = sheet[y:y + tile, x:x + tile]
    # [-1, 1] -> [0, 255], rounding half up; empty cells stay black.
    expected = np.floor((grey[i] + 1) * 127.5 + 0.5) if i < n else 0
    assert (cell == expected).all(), (i, cell[0, 0], expected)


def test_sprite_file_and_config_agree(tmp_path):
  images = np.random.default_rng(2).uniform(0, 1, (10, 20, 20, 3))
  done = export_embeddings(str(tmp_path), _points(n=10), images=images,
                           image_range=(0, 1))
  assert done.sprite_tile == 20
  with Image.open(done.sprite_path) as image:
    assert (image.format, image.size) == ("JPEG", (80, 80))
  info = _config(tmp_path).embeddings[0]
  assert info.sprite.image_path == "embedding/sprite.jpg"
  assert list(info.sprite.single_image_dim) == [20, 20]


# ------------------------------------------------------- one logdir, many

def test_embeddings_share_a_logdir_and_one_events_file(tmp_path):
  export_embeddings(str(tmp_path), _points(), images=np.zeros((6, 4, 4)),
                    name="style")
  export_embeddings(str(tmp_path), _points(n=8, d=5), metadata=range(8),
                    name="content")
  export_embeddings(str(tmp_path), _points(n=9), name="style")  # Re-export.
  infos = _config(tmp_path).embeddings
  assert [i.tensor_name for i in infos] == ["style", "content"]
  assert list(infos[0].tensor_shape) == [9, 8]
  assert not infos[0].sprite.image_path
  assert infos[1].metadata_path == "content/metadata.tsv"
  assert sorted(os.listdir(tmp_path / "style")) == ["tensor.bin"]  # Stale gone.
  events = [f for f in os.listdir(tmp_path) if "tfevents" in f]
  assert len(events) == 1
  for info in infos:
    for path in (info.tensor_path, info.metadata_path):
      assert not os.path.isabs(path) and ".." not in path


def test_warns_when_a_checkpoint_would_add_embeddings(tmp_path, caplog):
  (tmp_path / "checkpoint").write_text("model_checkpoint_path: 'ckpt-1'\n")
  with caplog.at_level(logging.WARNING, logger="absl"):
    export_embeddings(str(tmp_path / "projector"), _points())
  assert "holds a TF checkpoint" in caplog.text


# ------------------------------------------------------ real TensorBoard

def test_real_tensorboard_serves_the_export(tmp_path):
  rng = np.random.default_rng(3)
  style = rng.standard_normal((12, 2, 2, 4)).astype(np.float32)
  content = np.zeros((12, 6), np.float32)  # Dead features: the TSV path.
  images = rng.uniform(-1, 1, (12, 16, 16, 3)).astype(np.float32)
  logdir = tmp_path / "logs" / "proj"
  styled = export_embeddings(str(logdir), style, name="style", images=images,
                             metadata={"id": range(12), "split": ["a"] * 12})
  plain = export_embeddings(str(logdir), content, name="content",
                            metadata=[f"p{i}" for i in range(12)])
  assert (styled.tensor_format, plain.tensor_format) == ("float32", "tsv")

  # --logdir is the parent: the run is only found through the events file.
  with serve.TensorBoard(str(tmp_path / "logs")) as tb:
    assert tb.wait_for_runs(timeout=45) == ["proj"]
    info = json.loads(tb.get("/info", run="proj"))
    shapes = {e["tensorName"]: e["tensorShape"] for e in info["embeddings"]}
    assert shapes == {"style": [12, 16], "content": [12, 6]}
    for done, array in ((styled, style.reshape(12, -1)), (plain, content)):
      served = tb.get("/tensor", run="proj", name=done.name)
      assert served == array.tobytes()
      assert tb.get("/metadata", run="proj", name=done.name) == _read(
          done.metadata_path)
    sheet = tb.get("/sprite_image", run="proj", name="style")
  assert sheet == _read(styled.sprite_path)
  with Image.open(io.BytesIO(sheet)) as image:
    assert image.size == (64, 64)  # 4 tiles a side of 16 px.
  assert _read(plain.metadata_path, "r").startswith("p0\n")  # No header.
