"""s2f-sample on a task defined here alone: two inputs, two outputs.

The task declares its serving inputs (a sketch and a label map) and its
signature returns an image and an attention map; s2f-sample's library
function runs it from an export and from a workdir with no change to the
sampler or the CLI.
"""

import os
import types

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

import fake_runs
from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf import images
from s2f_tf import pixels
from s2f_tf import sample
from s2f_tf import tasks
from s2f_tf.data import decode
from s2f_tf.serving import signatures as sig
from s2f_tf.tasks import few_shot

SIZE = 16  # tiny_config's image size.
CLASSES = 5
TASK = "two_inputs_for_test"


def _generator() -> keras.Model:
  """(sketch, labels / CLASSES) -> {"image", "attention"}: one conv each."""
  sketch = keras.Input((SIZE, SIZE, 1), name="sketch")
  labels = keras.Input((SIZE, SIZE, 1), name="labels")
  both = keras.layers.Concatenate(name="both")([sketch, labels])
  return keras.Model([sketch, labels], {
      "image": keras.layers.Conv2D(3, 3, padding="same", activation="tanh",
                                   name="to_image")(both),
      "attention": keras.layers.Conv2D(1, 3, padding="same",
                                       activation="sigmoid",
                                       name="to_attention")(both)})


class _Export(sig.ExportModule):
  """serving_default: sketch uint8 [B, S, S, 1], labels uint8 [B, S, S] ->
  image uint8 [B, S, S, 3], attention uint8 [B, S, S, 1]."""

  SIGNATURES = ("serving_default",)

  def __init__(self, generator):
    super().__init__(generator, name="two_inputs")
    self._call = generator.__call__  # A bound method: not tracked.

  def _outputs(self, sketch, labels):
    sketch = sig.checked(sketch, "sketch", ("B", SIZE, SIZE, 1))
    labels = sig.checked(labels, "labels", ("B", SIZE, SIZE))
    out = self._call([pixels.to_unit(sketch),
                      tf.cast(labels, tf.float32)[..., None] / CLASSES])
    return {"image": pixels.to_uint8(out["image"]),
            "attention": tf.cast(tf.round(out["attention"] * 255), tf.uint8)}

  @tf.function(input_signature=[sig.spec(4, tf.uint8, "sketch"),
                                sig.spec(3, tf.uint8, "labels")],
               jit_compile=False)
  def serving_default(self, sketch, labels):
    return self._outputs(sketch, labels)

  def examples(self, rng):
    feeds = {"sketch": rng.integers(0, 256, (2, SIZE, SIZE, 1), np.uint8),
             "labels": rng.integers(0, CLASSES, (2, SIZE, SIZE), np.uint8)}
    outputs = {k: v.numpy() for k, v in self._outputs(**feeds).items()}
    return {"serving_default": sig.Example(feeds, outputs, 1)}


class _TwoInputTask(few_shot.FewShotTask):
  """The few-shot task's training, this file's generator and serving."""

  MODELS = ("two_inputs",)

  def build_generator(self):
    return _generator()

  def export_module(self, generator):
    return _Export(generator)

  def serving_inputs(self, signature="serving_default"):
    if signature != "serving_default":
      return ()
    return (sig.InputFile("sketch", "sketch", images.Sketch(), "a sketch"),
            sig.InputFile("labels", "labels", images.LabelMap(CLASSES),
                          "a label map"))


@pytest.fixture(scope="module", autouse=True)
def _registered():
  """The task exists for this module's tests only: a registration left
  behind would own the few-shot flags in later tests of the process."""
  tasks.register(TASK, _TwoInputTask)
  yield
  tasks.unregister(TASK)


def _write(path, image):
  cv2.imwrite(str(path), image)
  return str(path)


@pytest.fixture(scope="module")
def model(tiny_data_root, tmp_path_factory):
  """The generator in a workdir checkpoint and in an export, a drawing and
  a label map, and what the generator draws from them."""
  root = tmp_path_factory.mktemp("sample")
  base = config_lib.tiny_config(root=tiny_data_root)
  config = config_lib.with_task(base, TASK, "two_inputs")
  task = tasks.make_task(config)
  generator = task.build_generator()
  workdir = fake_runs.generator_workdir(config, generator, str(root / "run"))
  rng = np.random.default_rng(0)
  sketch = rng.integers(0, 256, (SIZE, SIZE), np.uint8)
  labels = rng.integers(0, CLASSES, (SIZE, SIZE), np.uint8)
  want = generator([pixels.to_unit(sketch[None, ..., None]),
                    labels[None, ..., None].astype(np.float32) / CLASSES])
  return types.SimpleNamespace(
      workdir=workdir, path=export.export(task, generator, str(root / "exp")),
      sketch=_write(root / "sketch.png", sketch),
      labels=_write(root / "labels.png", labels),
      image=pixels.to_uint8(want["image"].numpy()[0]),
      attention=np.round(want["attention"].numpy()[0, ..., 0] * 255))


def _files(**given):
  return {name: given.get(name) for name in
          ("sketch", "sketch_from", "labels", "refs", "ref_labels")}


@pytest.mark.parametrize("source", ["export_dir", "workdir"])
def test_both_outputs_are_written_from_export_and_workdir(model, tmp_path,
                                                          source):
  out, aux = str(tmp_path / "face.png"), str(tmp_path / "aux")
  written = sample.sample(
      _files(sketch=model.sketch, labels=model.labels), out, out_aux_dir=aux,
      **{source: model.path if source == "export_dir" else model.workdir})
  assert written == [out, os.path.join(aux, "attention.png")]
  image = decode.read_image(out, "rgb").astype(int)
  attention = decode.read_image(written[1], "gray").astype(int)
  assert image.std() > 0 and attention.std() > 0
  assert np.abs(image - model.image).max() <= 1  # Rounding at .5 only.
  assert np.abs(attention - model.attention).max() <= 1


def test_without_an_aux_dir_only_the_image_is_written(model, tmp_path):
  out = str(tmp_path / "face.png")
  assert sample.sample(_files(sketch=model.sketch, labels=model.labels), out,
                       export_dir=model.path) == [out]
  assert os.listdir(tmp_path) == ["face.png"]


@pytest.mark.parametrize("given,message", [
    (dict(sketch="s.png", refs=["a.jpg"]),
     f"this model draws a face from a sketch (--task={TASK}): pass --sketch "
     "with --labels, not --sketch_from, --refs or --ref_labels"),
    (dict(sketch="s.png"), f"this model draws a face from a sketch "
     f"(--task={TASK}): pass --sketch with --labels"),
])
def test_the_task_names_the_files_it_reads(model, tmp_path, given, message):
  with pytest.raises(ValueError) as info:
    sample.sample(_files(**given), str(tmp_path / "face.png"),
                  export_dir=model.path)
  assert str(info.value) == message
