"""s2f-project on a real 2-step run, checked against the model and TB."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from projector import serve
from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import pixels
from s2f_tf import project
from s2f_tf import tasks
from s2f_tf.data import points as points_lib
from s2f_tf import train
from s2f_tf.data import reader


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_data_root):
  """(workdir, config) of a tiny run trained for 2 steps, shared: ~10 s."""
  config = config_lib.tiny_config(root=tiny_data_root, steps=2)
  workdir = str(tmp_path_factory.mktemp("run"))
  train.run(config, workdir)
  return workdir, config


def _expected(config, split="heldout", max_points=1000):
  return points_lib.select_points(*reader.load_splits(config.data), split,
                                  max_points)


def _model_outputs(workdir, points):
  """Style codes and content features, all photos in one batch."""
  _, generator, _ = tasks.restore(workdir)
  photos = pixels.to_unit(points.photos)
  sketches = pixels.to_unit(points.sketches)
  style = generator.encode_style_per_image(photos[:, None])[:, 0]
  content = generator.encode_content(sketches)
  return {"style": np.asarray(style),
          "content": np.asarray(content).reshape(len(photos), -1)}


def _metadata(done):
  with open(done.metadata_path) as f:
    return [line.split("\t") for line in f.read().splitlines()]


def _tensor(done):
  if done.tensor_format == "float32":
    return np.fromfile(done.tensor_path, np.float32).reshape(done.shape)
  return np.loadtxt(done.tensor_path, np.float32, delimiter="\t")


def test_heldout_export_is_the_models_codes_with_labels(run):
  workdir, config = run
  exported = project.export_projector(workdir)
  points = _expected(config)
  n = len(points.photos)
  assert n == 15  # 3 held-out people x 5 photos.
  assert {k: v.shape for k, v in exported.items()} == {
      "style": (n, 16), "content": (n, 4 * 4 * 32)}  # 16 px / 2^2, 8 * 2^2.
  outputs = _model_outputs(workdir, points)
  for name, done in exported.items():
    np.testing.assert_allclose(_tensor(done), outputs[name], rtol=1e-5,
                               atol=1e-6)
    assert _metadata(done) == [["identity", "split", "image"]] + [
        [str(i), "heldout", str(j)]
        for i, j in zip(points.identities, points.image_ids)]
    assert os.path.exists(done.sprite_path)
    assert os.path.dirname(done.config_path) == project.projector_dir(workdir)
  for folder in (workdir, project.projector_dir(workdir)):
    assert "checkpoint" not in os.listdir(folder)  # No extra embeddings.


def test_max_points_keeps_whole_identities_first(run):
  _, config = run
  train_set, heldout_set = reader.load_splits(config.data)
  seven = points_lib.select_points(train_set, heldout_set, "train", 7)
  first, second = sorted(set(train_set.identities))[:2]
  assert seven.identities.tolist() == [first] * 5 + [second] * 2
  assert (np.diff(seven.image_ids[:5]) > 0).all()
  both = points_lib.select_points(train_set, heldout_set, "both", 1000)
  assert len(both.photos) == len(train_set) + len(heldout_set) == 60
  assert (np.diff(both.identities) >= 0).all()
  assert sorted(set(both.splits)) == ["heldout", "train"]
  for i in np.flatnonzero(both.splits == "heldout"):
    row = np.flatnonzero(heldout_set.image_ids == both.image_ids[i])[0]
    np.testing.assert_array_equal(both.photos[i], heldout_set.photos[row])


def test_real_tensorboard_lists_both_and_serves_the_codes(run):
  workdir, config = run
  exported = project.export_projector(workdir, split="train", max_points=20)
  outputs = _model_outputs(workdir, _expected(config, "train", 20))
  with serve.TensorBoard(project.projector_dir(workdir)) as tb:
    runs = tb.wait_for_runs(timeout=45)
    assert len(runs) == 1
    info = json.loads(tb.get("/info", run=runs[0]))
    shapes = {e["tensorName"]: e["tensorShape"] for e in info["embeddings"]}
    assert shapes == {"style": [20, 16], "content": [20, 512]}
    for name, done in exported.items():
      served = np.frombuffer(tb.get("/tensor", run=runs[0], name=name),
                             np.float32).reshape(done.shape)
      np.testing.assert_array_equal(served, _tensor(done))
      np.testing.assert_allclose(served, outputs[name], rtol=1e-5, atol=1e-6)


def _copy_run(workdir, dest, **family_overrides):
  """A workdir with `workdir`'s checkpoints and an edited config.json."""
  config = config_lib.load_config(workdir)
  os.makedirs(dest)
  config_lib.save_config(config_lib.with_family(config, **family_overrides),
                         dest)
  shutil.copytree(checkpointing.checkpoint_dir(workdir),
                  checkpointing.checkpoint_dir(dest))
  return dest


def test_content_needs_no_style_embedder(run, tmp_path):
  # A style_source="random" generator is the embedder run minus the embedder.
  workdir = _copy_run(run[0], str(tmp_path / "random"), style_source="random")
  exported = project.export_projector(workdir, features="content")
  assert list(exported) == ["content"]
  with pytest.raises(ValueError, match=r"style_source='random'.*"
                     r"--features=content, or train with --style_source="):
    project.export_projector(workdir, features=["style", "content"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(split="test"), r"--split='test' is unknown"),
    (dict(max_points=3), r"--max_points=3: .* at least 4"),
])
def test_bad_arguments_fail_before_the_model(tmp_path, kwargs, message):
  with pytest.raises(ValueError, match=message):
    project.export_projector(str(tmp_path), **kwargs)  # Not even a workdir.


def test_unknown_feature_is_named_before_the_model_is_built(run, tmp_path):
  config_lib.save_config(run[1], str(tmp_path))  # No checkpoint needed.
  with pytest.raises(ValueError, match=r"unknown \['colour'\]; name one or "
                     r"more of style, content"):
    project.export_projector(str(tmp_path), features=["style", "colour"])


def test_workdir_without_checkpoint_says_train_first(run, tmp_path):
  config_lib.save_config(run[1], str(tmp_path))
  with pytest.raises(FileNotFoundError, match=r"no checkpoint .*s2f-train"):
    project.export_projector(str(tmp_path))


def test_split_with_fewer_than_4_photos(run):
  train_set, heldout_set = reader.load_splits(run[1].data)
  three = dataclasses.replace(heldout_set, **{
      f: getattr(heldout_set, f)[:3]
      for f in ("photos", "sketches", "masks", "identities", "image_ids")})
  with pytest.raises(ValueError, match=r"heldout split has 3 photos.*both"):
    points_lib.select_points(train_set, three, "heldout", 1000)


def _cli(*args):
  return subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.project_main", *args],
      capture_output=True, text=True, timeout=120, check=False)


def test_cli_prints_the_tensorboard_command(run):
  workdir = run[0]
  done = _cli(f"--workdir={workdir}", "--max_points=6", "--features=style")
  assert done.returncode == 0, done.stderr
  assert "style: 6 points x 16 values" in done.stdout
  assert f"tensorboard --logdir {workdir}/projector" in done.stdout


def test_cli_error_is_one_line_and_exit_2(tmp_path):
  done = _cli(f"--workdir={tmp_path}")
  assert done.returncode == 2
  assert "Traceback" not in done.stderr
  assert done.stderr.splitlines()[-1].startswith(
      f"s2f-project: {tmp_path}/config.json not found")
