"""SavedModel export, its four signatures, and s2f-sample, on a tiny run.

s2f-sample on label2face models is in test_sample_label2face.py.
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf import images
from s2f_tf import tasks
from s2f_tf.data import decode
from s2f_tf.models import few_shot
from s2f_tf.serving import few_shot as few_shot_serving
from s2f_tf.serving import signatures as signatures_lib
from s2f_tf import precision as precision_lib
from s2f_tf import sample
from s2f_tf import train
from s2f_tf.data import decode

SIZE = 16  # tiny_config's image size.
CH = 8  # Its base_channels.


@pytest.fixture(scope="module")
def run(tiny_data_root, tmp_path_factory):
  """A 2-step tiny run, exported once for every test here.

  No sample grid (image_every past the end): nothing here reads one, and
  drawing it traces the sampler.
  """
  root = tmp_path_factory.mktemp("export")
  workdir = str(root / "run")
  train.run(config_lib.tiny_config(root=tiny_data_root, steps=2,
                                   checkpoint_every=2, image_every=10,
                                   log_every=1), workdir)
  task, generator, step = export.restore_for_serving(workdir)
  path = export.export(task, generator, str(root / "serving"))
  return types.SimpleNamespace(
      root=root, workdir=workdir, task=task, config=task.config,
      generator=generator,
      step=step, path=path, loaded=tf.saved_model.load(path))


def _batch(batch_size, k_refs, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, 256, (batch_size, SIZE, SIZE, 1), np.uint8),
          rng.integers(0, 256, (batch_size, k_refs, SIZE, SIZE, 3), np.uint8))


def _unit(x):
  return tf.constant(x.astype(np.float32) / 127.5 - 1.0)


def _uint8(image):
  return np.clip(np.round((np.asarray(image) + 1.0) * 127.5), 0, 255)


def test_export_writes_only_the_version_folder(run):
  assert run.step == 2
  assert run.path == str(run.root / "serving" / "1")
  assert os.listdir(run.root / "serving") == ["1"]  # No scratch left over.
  assert tf.saved_model.contains_saved_model(run.path)
  saved = config_lib.load_config(os.path.join(run.path, export.EXTRA_DIR))
  assert saved == run.config
  with pytest.raises(FileExistsError, match="another version"):
    export.export(run.task, run.generator, str(run.root / "serving"))


@pytest.mark.parametrize("batch_size,k_refs", [(1, 1), (3, 4)])
def test_every_signature_agrees_with_the_keras_model(run, batch_size, k_refs):
  sketch, refs = _batch(batch_size, k_refs)  # K differs from training's 2.
  image = run.generator({"sketch": _unit(sketch), "refs": _unit(refs)})
  style = run.generator.encode_style(_unit(refs)).numpy()
  sig = run.loaded.signatures
  got_float = sig["serving_float"](sketch=_unit(sketch),
                                   refs=_unit(refs))["image"].numpy()
  np.testing.assert_allclose(got_float, image, atol=signatures_lib.TOLERANCE)
  got_style = sig["encode_style"](refs=tf.constant(refs))["style"].numpy()
  np.testing.assert_allclose(got_style, style, atol=signatures_lib.TOLERANCE)
  for got in (sig["serving_default"](sketch=tf.constant(sketch),
                                     refs=tf.constant(refs))["image"],
              sig["generate"](sketch=tf.constant(sketch),
                              style=tf.constant(style))["image"]):
    assert got.dtype == tf.uint8
    assert got.shape == (batch_size, SIZE, SIZE, 3)
    assert np.abs(got.numpy() - _uint8(image)).max() <= 1


_SKETCH, _REFS = (1, SIZE, SIZE, 1), (1, 2, SIZE, SIZE, 3)
_BAD_CALLS = [  # (signature, input shapes, expected message)
    ("serving_default", {"sketch": (1, 8, SIZE, 1), "refs": _REFS},
     "sketch must be uint8 [B, 16, 16, 1]"),
    ("serving_default", {"sketch": (1, SIZE, SIZE, 3), "refs": _REFS},
     "sketch must be uint8 [B, 16, 16, 1]"),
    ("serving_default", {"sketch": (SIZE, SIZE, 1), "refs": _REFS},
     "sketch must be uint8 [B, 16, 16, 1]"),
    ("serving_default", {"sketch": _SKETCH, "refs": (1, SIZE, SIZE, 3)},
     "refs must be uint8 [B, K, 16, 16, 3]"),
    ("serving_default", {"sketch": _SKETCH, "refs": (1, 0, SIZE, SIZE, 3)},
     "refs must be uint8 [B, K, 16, 16, 3] with B, K >= 1"),
    ("serving_default", {"sketch": (2, SIZE, SIZE, 1), "refs": _REFS},
     "sketch and refs must have the same batch size B"),
    ("serving_float", {"sketch": _SKETCH, "refs": (1, 2, 8, 8, 3)},
     "refs must be float32 [B, K, 16, 16, 3]"),
    ("encode_style", {"refs": (1, 2, SIZE, SIZE, 1)},
     "refs must be uint8 [B, K, 16, 16, 3]"),
    ("generate", {"sketch": _SKETCH, "style": (1, 15)},
     "style must be float32 [B, 16]"),
]


@pytest.mark.parametrize("name,shapes,message", _BAD_CALLS)
def test_bad_shapes_fail_naming_the_expected_shape(run, name, shapes, message):
  signature = run.loaded.signatures[name]
  inputs = {key: tf.zeros(shape, signature.structured_input_signature[1][
      key].dtype) for key, shape in shapes.items()}
  with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
    signature(**inputs)


def _saved_model_cli():
  found = shutil.which("saved_model_cli",
                       path=os.path.dirname(sys.executable))
  return ([found] if found else
          [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])


def _literal(array):
  """A Python literal for `--input_exprs`, which parses with literal_eval."""
  return json.dumps(array.tolist(), separators=(",", ":"))


def test_saved_model_cli_shows_the_signatures(run):
  out = subprocess.run(_saved_model_cli() + ["show", "--all", "--dir",
                                             run.path],
                       capture_output=True, text=True, check=True).stdout
  for name in few_shot_serving.FewShotExport.SIGNATURES:
    assert f"signature_def['{name}']" in out
  default = out[out.index("signature_def['serving_default']"):]
  default = default[:default.index("Method name")]
  assert default.count("DT_UINT8") == 3  # sketch, refs and image.
  assert "shape: (-1, 16, 16, 3)" in default


def test_saved_model_cli_run_makes_an_image_and_names_bad_shapes(run, tmp_path):
  sketch, refs = _batch(1, 2)
  command = _saved_model_cli() + [
      "run", "--dir", run.path, "--tag_set", "serve", "--signature_def",
      "serving_default", "--outdir", str(tmp_path), "--input_exprs",
      f"sketch={_literal(sketch)};refs={_literal(refs)}"]
  subprocess.run(command, capture_output=True, text=True, check=True)
  image = np.load(tmp_path / "image.npy")
  want = run.loaded.signatures["serving_default"](
      sketch=tf.constant(sketch), refs=tf.constant(refs))["image"].numpy()
  np.testing.assert_array_equal(image, want)

  command[-1] = f"sketch={_literal(sketch[:, :8])};refs={_literal(refs)}"
  bad = subprocess.run(command + ["--overwrite"], capture_output=True,
                       text=True)
  assert bad.returncode != 0
  assert "sketch must be uint8 [B, 16, 16, 1]" in bad.stderr


def test_a_failed_verification_is_loud_and_leaves_nothing(run, monkeypatch):
  other = few_shot_serving.FewShotExport(
      few_shot.build_generator(run.config.family, SIZE, CH), k_refs=2)
  with pytest.raises(export.VerificationError,
                     match=r"serving_float via tf.saved_model.load"):
    export.verify(run.path, other)
  verify = export.verify  # Now checks the new export against `other`:
  monkeypatch.setattr(export, "verify", lambda path, _: verify(path, other))
  with pytest.raises(export.VerificationError):
    export.export(run.task, run.generator, str(run.root / "failed"))
  assert not os.listdir(run.root / "failed")


def test_generators_are_restored_and_exported_in_float32(run):
  with precision_lib.precision_policy("mixed_float16"):
    _, generator, _ = export.restore_for_serving(run.workdir)
    mixed = few_shot.build_generator(run.config.family, SIZE, CH)
  assert generator.compute_dtype == "float32"
  with pytest.raises(ValueError, match="float32 generator"):
    few_shot_serving.FewShotExport(mixed, k_refs=2)


def test_ema_weights_are_exported_when_the_checkpoint_has_them(run,
                                                              tmp_path):
  workdir = str(tmp_path)
  config_lib.save_config(run.config, workdir)
  raw, ema = (few_shot.build_generator(run.config.family, SIZE, CH)
              for _ in range(2))
  checkpoint = tf.train.Checkpoint(
      generator=checkpointing.VariablesByPath(raw),
      generator_ema=checkpointing.VariablesByPath(ema),
      step=tf.Variable(7, dtype=tf.int64))
  checkpointing.make_manager(checkpoint, workdir, keep=1).save(7)
  for use_ema, want in ((True, ema), (False, raw)):
    _, got, step = export.restore_for_serving(workdir, use_ema)
    assert step == 7
    for a, b in zip(got.variables, want.variables):
      np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_unconditional_generator_exports_noise_to_image(run):
  config = config_lib.with_task(dataclasses.replace(
      run.config, data=dataclasses.replace(run.config.data, image_size=32)),
                                "unconditional", "dcgan", z_dim=8)
  task = tasks.make_task(config)
  generator = task.build_generator()
  path = export.export(task, generator, str(run.root / "dcgan"))
  z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
  signatures = tf.saved_model.load(path).signatures
  got = signatures["serving_float"](z=tf.constant(z))["image"].numpy()
  np.testing.assert_allclose(got, generator(z, training=False), atol=1e-5)
  image = signatures["serving_default"](z=tf.constant(z))["image"].numpy()
  assert image.dtype == np.uint8 and image.shape == (3, 32, 32, 3)
  with pytest.raises(ValueError, match=r"draws a face from uint8 images .*"
                     r"\(--task=unconditional\) takes z float32"):
    export.load_image_fn(export_dir=path)


def _write(path, image):
  cv2.imwrite(str(path), image)
  return str(path)


def test_images_are_cropped_resized_and_converted(tmp_path):
  wide = np.zeros((30, 90, 3), np.uint8)
  wide[:, 30:60] = (0, 0, 255)  # Red (BGR) centre third, black sides.
  photo = decode.read_photo(_write(tmp_path / "wide.jpg", wide), SIZE)
  assert photo.shape == (SIZE, SIZE, 3)
  assert (photo[..., 0] > 200).all() and (photo[..., 2] < 60).all()
  gray = decode.read_photo(_write(tmp_path / "g.png",
                                  np.full((8, 8), 77, np.uint8)), SIZE)
  assert gray.shape == (SIZE, SIZE, 3) and (gray == 77).all()  # Enlarged.
  rgba = np.zeros((40, 40, 4), np.uint8)  # Black lines, transparent paper.
  rgba[18:23, :, 3] = 255
  sketch = images.read_sketch(_write(tmp_path / "s.png", rgba), SIZE)
  assert sketch.shape == (SIZE, SIZE, 1)
  assert sketch.min() == 0 and (sketch[:4] == 255).all()


def _files(**given):
  """Every s2f-sample file flag, None where not in `given`."""
  return {name: given.get(name) for name in
          ("sketch", "sketch_from", "labels", "refs", "ref_labels")}


def test_serving_inputs_name_bad_files(tmp_path, tiny_data_root):
  task = tasks.make_task(config_lib.tiny_config(root=tiny_data_root))
  good = _write(tmp_path / "good.png", np.full((20, 20, 3), 128, np.uint8))
  (tmp_path / "text.jpg").write_text("<html>not an image</html>")
  (tmp_path / "empty.png").write_bytes(b"")
  for bad in ("missing.jpg", "text.jpg", "empty.png"):
    with pytest.raises(decode.BadFile) as info:
      task.load_serving_inputs(_files(sketch=good,
                                      refs=[good, str(tmp_path / bad)]))
    assert info.value.path == str(tmp_path / bad)
  data = dataclasses.replace(task.config.data, sketch_method="mask_edges")
  masks = tasks.make_task(dataclasses.replace(task.config, data=data))
  with pytest.raises(ValueError, match="draw it yourself"):
    masks.load_serving_inputs(_files(sketch_from=good, refs=[good]))
  feeds = task.load_serving_inputs(_files(sketch_from=good, refs=[good] * 3))
  assert {k: v.shape for k, v in feeds.items()} == {
      "sketch": (1, SIZE, SIZE, 1), "refs": (1, 3, SIZE, SIZE, 3)}
  drawn = images.sketch_from_photo(good, SIZE, task.config.data.sketch_method)
  np.testing.assert_array_equal(feeds["sketch"][0], drawn)
  np.testing.assert_array_equal(feeds["refs"][0, 2],
                                decode.read_photo(good, SIZE))


@pytest.mark.parametrize("given,message", [
    (dict(sketch="s.png", sketch_from="p.jpg", refs=["a.jpg"]),
     "this model draws a face from a sketch (--task=sketch2face): pass one "
     "of --sketch or --sketch_from, not both"),
    (dict(sketch="s.png"), "this model draws the person of its reference "
     "photos: pass --refs=a.jpg,b.jpg"),
    (dict(refs=["a.jpg"]), "this model draws a face from a sketch "
     "(--task=sketch2face): pass --sketch or --sketch_from with --refs"),
    (dict(sketch="s.png", refs=["a.jpg"], ref_labels=["a.png"]),
     "this model draws a face from a sketch (--task=sketch2face): pass "
     "--sketch or --sketch_from with --refs, not --labels or --ref_labels"),
    (dict(sketch=["s.png", "t.png"], refs=["a.jpg"]),
     "--sketch takes one file, got 2"),
])
def test_serving_inputs_name_the_flags_to_pass_or_drop(tiny_data_root, given,
                                                       message):
  task = tasks.make_task(config_lib.tiny_config(root=tiny_data_root))
  with pytest.raises(ValueError) as info:  # Before any file is opened.
    task.load_serving_inputs(_files(**given))
  assert str(info.value) == message


def _sample(*args):
  return subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.sample_main", *args],
      capture_output=True, text=True)


def test_sample_cli_end_to_end(run, tiny_data_root, tmp_path):
  photos = os.path.join(tiny_data_root, "CelebA-HQ-img")
  photo, ref_a, ref_b = (os.path.join(photos, f"{i}.jpg") for i in range(3))
  out = str(tmp_path / "face.png")
  done = _sample(f"--export_dir={run.path}", f"--sketch_from={photo}",
                 f"--refs={ref_a},{ref_b}", f"--out={out}")
  assert done.returncode == 0, done.stderr
  face = decode.read_image(out, "rgb")
  assert face.shape == (SIZE, SIZE, 3)
  _, generate = export.load_image_fn(workdir=run.workdir)
  feeds = run.task.load_serving_inputs(_files(sketch_from=photo,
                                              refs=[ref_a, ref_b]))
  assert np.abs(generate(feeds)[0].astype(int) - face).max() <= 1

  failed = _sample(f"--export_dir={run.path}", f"--sketch={photo}",
                   f"--refs={ref_a},{tmp_path / 'nope.jpg'}", f"--out={out}")
  assert failed.returncode == 2
  assert "nope.jpg: missing" in failed.stderr
  assert "Traceback" not in failed.stderr


def test_load_image_fn_points_to_the_version_folder(run):
  with pytest.raises(FileNotFoundError, match=re.escape(run.path)):
    export.load_image_fn(export_dir=os.path.dirname(run.path))


def test_sample_names_the_signatures_of_the_model(run, tmp_path):
  photo = os.path.join(run.config.data.root, "CelebA-HQ-img", "0.jpg")
  out = str(tmp_path / "face.png")
  with pytest.raises(ValueError) as info:  # Listed by the restored module.
    sample.sample(_files(sketch_from=photo, refs=[photo]), out,
                  workdir=run.workdir, signature="nope")
  assert str(info.value) == ("this model has no signature 'nope'; it has "
                             "encode_style, generate, serving_default, "
                             "serving_float")
  with pytest.raises(ValueError) as info:  # Takes uint8 refs, not files.
    sample.sample(_files(refs=[photo]), out, export_dir=run.path,
                  signature="encode_style")
  assert str(info.value) == (
      "no file feeds the encode_style signature of this model (--task="
      "sketch2face); call it from Python or TF Serving (docs/serving.md)")
  assert not os.path.exists(out)


def test_sample_cli_names_the_sketch_flag_for_a_sketch_model(run, tmp_path):
  mask = _write(tmp_path / "mask.png", np.zeros((SIZE, SIZE), np.uint8))
  failed = _sample(f"--export_dir={run.path}", f"--labels={mask}",
                   f"--refs={mask}", f"--out={tmp_path / 'face.png'}")
  assert failed.returncode == 2
  assert failed.stderr.splitlines()[-1] == (
      "s2f-sample: this model draws a face from a sketch (--task=sketch2face)"
      ": pass --sketch or --sketch_from with --refs, not --labels, "
      "--ref_labels or --image")
