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
cannot be pooled into region codes, so both are required together. Files
feed every signature (`input_files`, `load_files`).

A pix2pixHD generator with region features (--label_feat) has one more:

  label2face_features          labels uint8 [B, S, S] and features float32
                               [B, L, feat_num], each class's region
                               features (a k-means centre of
                               `s2f_tf.clusters`) -> image uint8 [B, S, S, 3]

whose files are the label map alone: the features come from numbers.
"""

from typing import Dict, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import images
from s2f_tf import pixels
from s2f_tf.serving import signatures as sig

FEATURES = "label2face_features"  # pix2pixHD's, with --label_feat.


def takes_references(family_config) -> bool:
  """Whether the signatures take refs and ref_labels: sean's region codes,
  the VAE's code and pix2pixHD's region features (--label_feat) come from
  the references; other modes read none."""
  return (family_config.norm_mode == "sean" or family_config.use_vae
          or family_config.label_feat)


def input_files(signature: str, family_config
                ) -> Tuple[sig.InputFile, ...]:
  """The label map, plus the references and their maps when the model
  (its `Label2FaceConfig`) reads them; the same files for each signature
  but `FEATURES`, which reads the map alone."""
  features = signature == FEATURES and family_config.label_feat
  if signature not in Label2FaceExport.SIGNATURES and not features:
    return ()
  classes = family_config.label_nc
  labels = sig.InputFile("labels", "labels", images.LabelMap(classes),
                         "a label map")
  if features or not takes_references(family_config):
    return (labels,)
  mode = ("--label_feat" if family_config.label_feat else
          f"--norm_mode={family_config.norm_mode}" +
          (" --use_vae" if family_config.use_vae else ""))
  why = ("sean reads each reference under its own mask"
         if family_config.norm_mode == "sean" else
         f"the {mode} signature takes each reference with its mask")
  return (labels,
          sig.InputFile("refs", "refs", images.Photos(), "reference photos",
                        missing=f"this model ({mode}) takes the look of "
                        "reference photos: pass --refs=a.jpg,b.jpg with "
                        "their maps --ref_labels=a.png,b.png"),
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
  return images.load_label_inputs(size, label_nc, paths["labels"],
                                  paths.get("refs", ()),
                                  paths.get("ref_labels", ()))


class Label2FaceExport(sig.ExportModule):
  """The label-map generator as serving signatures (module docstring)."""

  SIGNATURES = ("serving_default", "label2face", "label2face_int32",
                "label2face_float")

  def __init__(self, generator: keras.Model, k_refs: int):
    super().__init__(generator, name="label2face_generator")
    cfg = generator.family_config
    self._label_nc, self._k_refs = cfg.label_nc, k_refs
    self._needs_refs = takes_references(cfg)
    size = generator.image_size
    self._dims = {"labels": ("B", size, size),
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
      self.label2face_features = tf.function(
          lambda labels, features: {"image": pixels.to_uint8(
              self._featured_image(labels, features))},
          input_signature=[sig.spec(3, tf.uint8, "labels"),
                           sig.spec(3, tf.float32, "features")],
          jit_compile=False, autograph=False)

  def _signature(self, labels_dtype, to_output):
    """A tf.function: labels (+ refs, ref_labels) -> {"image": ...}."""
    specs = [sig.spec(3, labels_dtype, "labels")]
    if self._needs_refs:
      specs += [sig.spec(5, tf.uint8, "refs"),
                sig.spec(4, labels_dtype, "ref_labels")]
    return tf.function(
        lambda *inputs: {"image": to_output(self._image(*inputs))},
        input_signature=specs, jit_compile=False, autograph=False)

  def _class_ids(self, x, name):
    """x checked for shape and for ids < label_nc, as int32."""
    x = tf.cast(sig.checked(x, name, self._dims[name]), tf.int32)
    check = tf.debugging.assert_less(
        tf.reduce_max(x), self._label_nc,
        message=f"{name} must hold class ids < label_nc={self._label_nc}")
    with tf.control_dependencies([check]):
      return tf.identity(x)

  def _image(self, labels, refs=None, ref_labels=None):
    """Checked inputs -> image float32 [B, S, S, 3] in [-1, 1]."""
    labels = self._class_ids(labels, "labels")
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
    return self._call({"labels": labels, "refs": pixels.to_unit(refs),
                       "ref_labels": ref_labels})

  def _featured_image(self, labels, features):
    """Checked labels and region features -> image float32 [-1, 1]."""
    labels = self._class_ids(labels, "labels")
    features = sig.same_batch(
        labels, sig.checked(features, "features", self._dims["features"]),
        "labels and features")
    return self._generate(labels, {"features": features})

  def examples(self, rng: np.random.Generator,
               batch_size: int = 2) -> Dict[str, sig.Example]:
    """Random maps and photos; uint8 images may differ by 1 (rounding)."""
    size, k, nc = self._dims["labels"][1], self._k_refs, self._label_nc
    feeds = {"labels": rng.integers(0, nc, (batch_size, size, size),
                                    np.uint8)}
    if self._needs_refs:
      feeds["refs"] = rng.integers(0, 256, (batch_size, k, size, size, 3),
                                   np.uint8)
      feeds["ref_labels"] = rng.integers(0, nc, (batch_size, k, size, size),
                                         np.uint8)
    image = self._image(**feeds).numpy()
    as_int32 = {name: value.astype(np.int32) if name != "refs" else value
                for name, value in feeds.items()}
    uint8 = sig.Example(feeds, pixels.to_uint8(image), 1)
    examples = {
        "serving_default": uint8, "label2face": uint8,
        "label2face_int32": sig.Example(as_int32, pixels.to_uint8(image), 1),
        "label2face_float": sig.Example(feeds, image, sig.TOLERANCE)}
    if FEATURES in self.SIGNATURES:  # Features on tanh's range.
      featured = {"labels": feeds["labels"], "features": rng.uniform(
          -1, 1, (batch_size, *self._dims["features"][1:])).astype(
              np.float32)}
      examples[FEATURES] = sig.Example(featured, pixels.to_uint8(
          self._featured_image(**featured).numpy()), 1)
    return examples
