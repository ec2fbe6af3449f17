"""s2f-sample --labels on a tiny sean model, from an export and a workdir."""

import dataclasses
import json
import os
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
import tensorflow as tf

import fake_runs
from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf import images
from s2f_tf import sample
from s2f_tf import tasks
from s2f_tf.data import decode

SIZE = 16  # tiny_config's image size; the maps below are twice that.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, image):
  cv2.imwrite(str(path), image)
  return str(path)


@pytest.fixture(scope="module")
def sean(tiny_data_root, tmp_path_factory):
  """A tiny sean generator in a workdir checkpoint and in an export, plus a
  label map and two references with their maps, all at 2 * SIZE.

  One upsampling (n_up=1): the checks compare the same generator's faces
  through each path, whatever its depth, and every load from the workdir
  builds and traces it again."""
  root = tmp_path_factory.mktemp("sample_l2f")
  base = config_lib.tiny_config(root=tiny_data_root)
  config = config_lib.with_task(base, "label2face", "label2face",
                                norm_mode="sean", n_up=1, spade_hidden=8,
                                style_dim=8)
  config = dataclasses.replace(config, model=dataclasses.replace(
      config.model, base_channels=4))
  task = tasks.make_task(config)
  generator = task.build_generator()
  workdir = fake_runs.generator_workdir(config, generator, str(root / "run"))
  rng = np.random.default_rng(0)
  maps = rng.integers(0, config.family.label_nc, (3, 2 * SIZE, 2 * SIZE),
                      np.uint8)
  photos = os.path.join(tiny_data_root, "CelebA-HQ-img")
  return types.SimpleNamespace(
      workdir=workdir, path=export.export(task, generator, str(root / "exp")),
      maps=maps, labels=_write(root / "mask.png", maps[0]),
      refs=",".join(os.path.join(photos, f"{i}.jpg") for i in range(2)),
      ref_labels=",".join(_write(root / f"ref{i}.png", maps[1 + i])
                          for i in range(2)))


@pytest.fixture(scope="module")
def cli(sean, tmp_path_factory):
  """name -> (CompletedProcess-like result, out path) of the s2f-sample
  commands the tests below check: each a real `main()` with its own argv,
  stdout, stderr and exit code, both in one process (tests/cli_batch.py),
  which pays TensorFlow's import (about 5 s of CPU) once, not twice."""
  folder = tmp_path_factory.mktemp("sample_cli")
  model = [f"--export_dir={sean.path}", f"--labels={sean.labels}",
           f"--refs={sean.refs}"]
  commands = {
      "face": [*model, f"--ref_labels={sean.ref_labels}",
               f"--out={folder / 'face0.png'}"],
      "no_ref_labels": [*model, f"--out={folder / 'face.png'}"]}
  results_path = folder / "results.json"
  batch = subprocess.run(
      [sys.executable, os.path.join(REPO, "tests", "cli_batch.py"),
       str(results_path), "s2f_tf.cli.sample_main"],
      input=json.dumps(commands), capture_output=True, text=True,
      timeout=300, cwd=REPO)
  assert batch.returncode == 0, batch.stderr[-2000:]
  with open(results_path) as f:
    results = json.load(f)
  return {name: (types.SimpleNamespace(**results[name]),
                 commands[name][-1].removeprefix("--out="))
          for name in commands}


def test_labels_give_the_signature_image_from_export_and_workdir(sean, cli,
                                                                 tmp_path):
  """The command with the export and the library call it makes with the
  workdir draw the label2face signature's face; then every signature does
  from the workdir (one test, so the serving_default face drawn from the
  workdir, a model restore and trace of about 5 s, serves both checks)."""
  done, out = cli["face"]
  assert done.returncode == 0, done.stderr
  faces = [decode.read_image(out, "rgb")]
  out = str(tmp_path / "face1.png")
  assert sample.sample(_files(sean, labels=1, refs=1, ref_labels=1), out,
                       workdir=sean.workdir) == [out]
  faces.append(decode.read_image(out, "rgb"))
  refs = np.stack([decode.read_photo(p, SIZE) for p in sean.refs.split(",")])
  nearest = sean.maps[:, ::2, ::2]  # 32 -> 16 px, nearest-neighbour.
  want = tf.saved_model.load(sean.path).signatures["label2face"](
      labels=tf.constant(nearest[None, 0]), refs=tf.constant(refs[None]),
      ref_labels=tf.constant(nearest[None, 1:]))["image"].numpy()[0]
  assert want.std() > 0  # A face, not a blank that anything would match.
  np.testing.assert_array_equal(faces[0], want)
  np.testing.assert_array_equal(faces[1], want)
  _check_every_signature_draws_the_same_face(sean, tmp_path, faces[1])


def test_bad_flags_and_maps_are_one_line_errors(sean, cli, tmp_path):
  """The command prints the library's message in one line (exit 2) and
  writes nothing; the other cases call the library the command calls."""
  failed, written = cli["no_ref_labels"]
  assert failed.returncode == 2, failed.stderr
  assert failed.stderr.splitlines()[-1] == (
      "s2f-sample: sean reads each reference under its own mask: pass "
      "--ref_labels with one map per --refs"), failed.stderr
  assert "Traceback" not in failed.stderr
  assert not os.path.exists(written)
  out = tmp_path / "face.png"
  bad = sean.maps[0].copy()
  bad[3, 5] = 19
  bad = _write(tmp_path / "bad.png", bad)
  for files, message in [
      (dict(_files(sean, refs=1, ref_labels=1), labels=bad),
       f"{bad}: label value 19 >= --label_nc=19"),
      (dict(_files(sean, refs=1), sketch=sean.labels),
       "this model draws a face from a label map (--task=label2face): pass "
       "--labels with --refs and --ref_labels, not --sketch or --sketch_from"),
  ]:
    with pytest.raises(ValueError) as info:
      sample.sample(files, str(out), export_dir=sean.path)
    assert str(info.value).startswith(message), str(info.value)
  assert not os.path.exists(out)


def _files(sean, **given):
  """s2f-sample's file flags as it passes them: the sean files, None where
  not in `given`."""
  paths = {"labels": sean.labels, "refs": sean.refs.split(","),
           "ref_labels": sean.ref_labels.split(",")}
  return {name: paths[name] if name in given else None for name in
          ("sketch", "sketch_from", "labels", "refs", "ref_labels")}


def _check_every_signature_draws_the_same_face(sean, tmp_path, default):
  """The other signatures, from the workdir, against `default`, the
  serving_default face drawn from it."""
  faces = {"serving_default": default.astype(int)}
  for signature in ("label2face_int32", "label2face_float"):
    out = str(tmp_path / f"{signature}.png")
    assert sample.sample(_files(sean, labels=1, refs=1, ref_labels=1), out,
                         workdir=sean.workdir, signature=signature) == [out]
    faces[signature] = decode.read_image(out, "rgb").astype(int)
  # Class ids cast to int32 change nothing; the float image is rounded as
  # the uint8 signatures round it.
  np.testing.assert_array_equal(faces["label2face_int32"],
                                faces["serving_default"])
  assert np.abs(faces["label2face_float"] -
                faces["serving_default"]).max() <= 1


@pytest.mark.parametrize("given,signature,message", [
    (dict(labels=1, ref_labels=1), "serving_default",
     "this model (--norm_mode=sean) takes the look of reference photos: "
     "pass --refs=a.jpg,b.jpg with their maps --ref_labels=a.png,b.png"),
    (dict(labels=1, refs=1, ref_labels=1), "label2face_png",
     "this model has no signature 'label2face_png'; it has label2face, "
     "label2face_float, label2face_int32, serving_default"),
])
def test_sample_names_what_is_wrong(sean, tmp_path, given, signature,
                                    message):
  out = str(tmp_path / "face.png")
  with pytest.raises(ValueError) as info:
    sample.sample(_files(sean, **given), out, export_dir=sean.path,
                  signature=signature)
  assert str(info.value) == message
  assert not os.path.exists(out)


def test_references_and_their_maps_must_pair_up(sean, tmp_path):
  photo = sean.refs.split(",")[0]
  with pytest.raises(ValueError, match="2 reference photos but 1 label maps"):
    images.load_label_inputs(SIZE, 19, sean.labels, [photo, photo],
                             [sean.labels])
  wide = _write(tmp_path / "wide.png", np.zeros((SIZE, 2 * SIZE, 3),
                                                np.uint8))
  with pytest.raises(decode.BadFile, match=f"is 32x16 but its label map "
                     f"{sean.labels} is square"):
    images.load_label_inputs(SIZE, 19, sean.labels, [wide], [sean.labels])
