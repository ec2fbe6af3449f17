"""Serving signatures of the label-map -> face generator.

B is the batch, K the number of reference photos (any, per call), S the
model's image size, L its number of classes:

  serving_default, label2face  labels uint8 [B, S, S] (class ids < L)
                               -> image uint8 [B, S, S, 3]
  label2face_int32             the same with int32 labels
  label2face_float             uint8 inputs -> image float32 [-1, 1], the
                               model's own output (verified to 1e-5)

When the generator reads references (norm_mode=sean, or use_vae) each also
takes refs uint8 [B, K, S, S, 3] and ref_labels (the refs' own label maps,
same dtype as labels) [B, K, S, S]; under sean a reference without its map
cannot be pooled into region codes, so both are required together. A
pix2pixHD generator whose boundary channel is the face's sketch
(--edge_source=sketch) takes sketch uint8 [B, S, S, 1] (dark lines on
white, as sketch2face's) after labels in every signature. Files feed every
signature (`input_files`, `load_files`).

A pix2pixHD generator with region features (--label_feat) has one more:

  label2face_features          labels uint8 [B, S, S] and features float32
                               [B, L, feat_num], each class's region
                               features (a k-means centre of
                               `s2f_tf.clusters`) -> image uint8 [B, S, S, 3]

whose files are the label map (and sketch) alone: the features come from
numbers.
"""

from typing import Dict, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import images
from s2f_tf import pixels
from s2f_tf.models import pix2pixhd
from s2f_tf.serving import signatures as sig

FEATURES = "label2face_features"  # pix2pixHD's, with --label_feat.


def takes_references(family_config) -> bool:
  """Whether the signatures take refs and ref_labels: sean's region codes,
  the VAE's code and pix2pixHD's region features (--label_feat) come from
  the references; other modes read none."""
  return (family_config.norm_mode == "sean" or family_config.use_vae
          or family_config.label_feat)


def input_files(signature: str, family_config, sketch_method: str = "xdog"
                ) -> Tuple[sig.InputFile, ...]:
  """The label map (and the face's sketch, a drawing or a photo drawn by
  the model's `sketch_method`, when the model reads one), plus the
  references and their maps when the model (its `Label2FaceConfig`) reads
  them; the same files for each signature but `FEATURES`, which reads no
  references."""
  features = signature == FEATURES and family_config.label_feat
  if signature not in Label2FaceExport.SIGNATURES and not features:
    return ()
  classes = family_config.label_nc
  target = (sig.InputFile("labels", "labels", images.LabelMap(classes),
                          "a label map"),)
  if pix2pixhd.reads_sketch(family_config):
    missing = ("this model (--edge_source=sketch) reads the face's sketch "
               "beside its map: pass --sketch=s.png (or --sketch_from="
               "photo.jpg)")
    target += (sig.InputFile("sketch", "sketch", images.Sketch(), "a sketch",
                             missing=missing),
               sig.InputFile("sketch", "sketch_from",
                             images.SketchFromPhoto(sketch_method),
                             "a photo to draw the sketch from",
                             missing=missing))
  if features or not takes_references(family_config):
    return target
  mode = ("--label_feat" if family_config.label_feat else
          f"--norm_mode={family_config.norm_mode}" +
          (" --use_vae" if family_config.use_vae else ""))
  why = ("sean reads each reference under its own mask"
         if family_config.norm_mode == "sean" else
         f"the {mode} signature takes each reference with its mask")
  return target + (
      sig.InputFile("refs", "refs", images.Photos(), "reference photos",
                    missing=f"this model ({mode}) takes the look of "
                    "reference photos: pass --refs=a.jpg,b.jpg with their "
                    "maps --ref_labels=a.png,b.png"),
      sig.InputFile("ref_labels", "ref_labels", images.LabelMaps(classes),
                    "the references' label maps",
                    missing=f"{why}: pass --ref_labels with one map per "
                    "--refs"))


def load_files(inputs: Sequence[sig.InputFile], files: sig.Files, task: str,
               signature: str, size: int, label_nc: int
               ) -> Dict[str, np.ndarray]:
  """`sig.load_files`, but each reference photo read under its own map
  (`images.load_label_inputs`: a photo must be square like its map)."""
  chosen = sig.check_files(inputs, files, task, signature)
  paths = {name: value for name, (_, value) in chosen.items()}
  feeds = images.load_label_inputs(size, label_nc, paths["labels"],
                                   paths.get("refs", ()),
                                   paths.get("ref_labels", ()))
  if "sketch" in chosen:  # A drawing, or a photo drawn by the model's method.
    source, value = chosen["sketch"]
    feeds["sketch"] = source.kind.read(value, size)
  return feeds


class Label2FaceExport(sig.ExportModule):
  """The label-map generator as serving signatures (module docstring)."""

  SIGNATURES = ("serving_default", "label2face", "label2face_int32",
                "label2face_float")

  def __init__(self, generator: keras.Model, k_refs: int):
    super().__init__(generator, name="label2face_generator")
    cfg = generator.family_config
    self._label_nc, self._k_refs = cfg.label_nc, k_refs
    self._needs_refs = takes_references(cfg)
    self._needs_sketch = pix2pixhd.reads_sketch(cfg)
    size = generator.image_size
    self._dims = {"labels": ("B", size, size),
                  "sketch": ("B", size, size, 1),
                  "refs": ("B", "K", size, size, 3),
                  "ref_labels": ("B", "K", size, size)}
    self._call = generator.__call__  # A bound method: not tracked.
    self.label2face = self._signature(tf.uint8, pixels.to_uint8)
    self.serving_default = self.label2face
    self.label2face_int32 = self._signature(tf.int32, pixels.to_uint8)
    self.label2face_float = self._signature(tf.uint8, tf.identity)
    if cfg.label_feat:  # An instance's tuple: only this model has it.
      self.SIGNATURES = type(self).SIGNATURES + (FEATURES,)
      self._dims["features"] = ("B", cfg.label_nc, cfg.feat_num)
      self._generate = generator.generate  # Bound, like `_call`.
      self.label2face_features = self._function(
          self._featured_image, pixels.to_uint8,
          self._target_specs(tf.uint8) + [sig.spec(3, tf.float32,
                                                   "features")])

  def _target_specs(self, labels_dtype):
    """labels, and the sketch when the generator reads one."""
    specs = [sig.spec(3, labels_dtype, "labels")]
    if self._needs_sketch:
      specs.append(sig.spec(4, tf.uint8, "sketch"))
    return specs

  def _signature(self, labels_dtype, to_output):
    """A tf.function: labels (+ sketch, refs, ref_labels) -> {"image": ...}."""
    specs = self._target_specs(labels_dtype)
    if self._needs_refs:
      specs += [sig.spec(5, tf.uint8, "refs"),
                sig.spec(4, labels_dtype, "ref_labels")]
    return self._function(self._image, to_output, specs)

  @staticmethod
  def _function(image_fn, to_output, specs):
    """A tf.function of `specs`, passed to `image_fn` by name."""
    names = [spec.name for spec in specs]
    return tf.function(
        lambda *inputs: {"image": to_output(image_fn(**dict(zip(names,
                                                                inputs))))},
        input_signature=specs, jit_compile=False, autograph=False)

  def _class_ids(self, x, name):
    """x checked for shape and for ids < label_nc, as int32."""
    x = tf.cast(sig.checked(x, name, self._dims[name]), tf.int32)
    check = tf.debugging.assert_less(
        tf.reduce_max(x), self._label_nc,
        message=f"{name} must hold class ids < label_nc={self._label_nc}")
    with tf.control_dependencies([check]):
      return tf.identity(x)

  def _target(self, labels, sketch):
    """{"labels": checked int32 ids} and, when given, {"sketch": checked,
    on [-1, 1]} (same batch)."""
    target = {"labels": self._class_ids(labels, "labels")}
    if sketch is not None:
      sketch = sig.same_batch(
          target["labels"], sig.checked(sketch, "sketch",
                                        self._dims["sketch"]),
          "labels and sketch")
      target["sketch"] = pixels.to_unit(sketch)
    return target

  def _image(self, labels, refs=None, ref_labels=None, sketch=None):
    """Checked inputs -> image float32 [B, S, S, 3] in [-1, 1]."""
    target = self._target(labels, sketch)
    labels = target["labels"]
    if refs is None:  # The generator reads no references: placeholders.
      size = self._dims["labels"][1]
      refs = tf.zeros([tf.shape(labels)[0], 1, size, size, 3], tf.uint8)
      ref_labels = tf.zeros([tf.shape(labels)[0], 1, size, size], tf.int32)
    else:
      refs = sig.same_batch(
          labels, sig.checked(refs, "refs", self._dims["refs"]),
          "labels and refs")
      ref_labels = self._class_ids(ref_labels, "ref_labels")
      check = tf.debugging.assert_equal(
          tf.shape(refs)[:2], tf.shape(ref_labels)[:2],
          message="refs and ref_labels must have the same B and K")
      with tf.control_dependencies([check]):
        ref_labels = tf.identity(ref_labels)
    return self._call({**target, "refs": pixels.to_unit(refs),
                       "ref_labels": ref_labels})

  def _featured_image(self, labels, features, sketch=None):
    """Checked labels (+ sketch) and region features -> image float32
    [-1, 1]."""
    target = self._target(labels, sketch)
    features = sig.same_batch(
        target["labels"], sig.checked(features, "features",
                                      self._dims["features"]),
        "labels and features")
    return self._generate(target.pop("labels"), {"features": features},
                          **target)

  def examples(self, rng: np.random.Generator,
               batch_size: int = 2) -> Dict[str, sig.Example]:
    """Random maps and photos; uint8 images may differ by 1 (rounding)."""
    size, k, nc = self._dims["labels"][1], self._k_refs, self._label_nc
    feeds = {"labels": rng.integers(0, nc, (batch_size, size, size),
                                    np.uint8)}
    if self._needs_sketch:
      feeds["sketch"] = rng.integers(0, 256, (batch_size, size, size, 1),
                                     np.uint8)
    if self._needs_refs:
      feeds["refs"] = rng.integers(0, 256, (batch_size, k, size, size, 3),
                                   np.uint8)
      feeds["ref_labels"] = rng.integers(0, nc, (batch_size, k, size, size),
                                         np.uint8)
    image = self._image(**feeds).numpy()
    as_int32 = {name: value.astype(np.int32) if "labels" in name else value
                for name, value in feeds.items()}
    uint8 = sig.Example(feeds, pixels.to_uint8(image), 1)
    examples = {
        "serving_default": uint8, "label2face": uint8,
        "label2face_int32": sig.Example(as_int32, pixels.to_uint8(image), 1),
        "label2face_float": sig.Example(feeds, image, sig.TOLERANCE)}
    if FEATURES in self.SIGNATURES:  # Features on tanh's range.
      featured = {name: feeds[name] for name in ("labels", "sketch")
                  if name in feeds}
      featured["features"] = rng.uniform(
          -1, 1, (batch_size, *self._dims["features"][1:])).astype(
              np.float32)
      examples[FEATURES] = sig.Example(featured, pixels.to_uint8(
          self._featured_image(**featured).numpy()), 1)
    return examples
