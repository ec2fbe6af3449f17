"""Serving signatures of an unpaired A <-> B translator.

  serving_default, a2b  image uint8 [B, S, S, 3] (domain A) -> image uint8
  b2a                   image uint8 [B, S, S, 3] (domain B) -> image uint8
  a2b_float, b2a_float  the same -> image float32 on [-1, 1]
  a2b_attention         (U-GAT-IT) -> image uint8 and attention uint8
                        [B, S, S, 1]: the CAM heatmap (Kim et al. 2020,
                        arXiv:1907.10830) stretched to 0..255 per image
                        and resized to S (nearest), as its grids draw it

s2f-sample feeds every one from a photo: `--signature=a2b
--input=image=photo.png`.
"""

from typing import Dict, Tuple

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import images
from s2f_tf import pixels
from s2f_tf.serving import signatures as sig

_IMAGE = sig.spec(4, tf.uint8, "image")
_SOURCES = {"a2b": "a photo of domain A", "b2a": "an image of domain B"}
# Signature -> (direction, output).
_ROUTES = {"serving_default": ("a2b", "uint8"), "a2b": ("a2b", "uint8"),
           "b2a": ("b2a", "uint8"), "a2b_float": ("a2b", "float"),
           "b2a_float": ("b2a", "float"),
           "a2b_attention": ("a2b", "attention")}


def input_files(signature: str) -> Tuple[sig.InputFile, ...]:
  """Every signature reads one image file, `--input=image=PATH`."""
  if signature not in _ROUTES:
    return ()
  direction = _ROUTES[signature][0]
  return (sig.InputFile("image", "image", images.Photo(),
                        _SOURCES[direction]),)


def attention_uint8(heatmap: tf.Tensor, size: int) -> tf.Tensor:
  """[B, h, w, 1] heatmap -> uint8 [B, size, size, 1], each map stretched
  to its own min..max (a constant map is black), nearest-resized."""
  heatmap = tf.cast(heatmap, tf.float32)
  low = tf.reduce_min(heatmap, axis=[1, 2, 3], keepdims=True)
  span = tf.reduce_max(heatmap, axis=[1, 2, 3], keepdims=True) - low
  gray = tf.math.divide_no_nan(heatmap - low, span)
  gray = tf.image.resize(gray, [size, size], method="nearest")
  return tf.cast(tf.round(gray * 255.0), tf.uint8)


def export_module(generator: keras.Model, image_size: int) -> sig.ExportModule:
  """The export of an `UnpairedGenerator`: with a2b_attention when its
  networks have CAM heatmaps (U-GAT-IT)."""
  if generator.model == "ugatit":
    return AttentionExport(generator, image_size)
  return UnpairedExport(generator, image_size)


class UnpairedExport(sig.ExportModule):
  """`models.unpaired.UnpairedGenerator` as the signatures above but
  a2b_attention (CycleGAN has no attention map)."""

  SIGNATURES = ("serving_default", "a2b", "b2a", "a2b_float", "b2a_float")

  def __init__(self, generator: keras.Model, image_size: int):
    super().__init__(generator, name="unpaired_generator")
    self._translate = generator.translate  # A bound method: not tracked.
    self._size = image_size

  def _run(self, direction: str, image):
    image = sig.checked(image, "image", ("B", self._size, self._size, 3))
    return self._translate(direction, pixels.to_unit(image), training=False)

  def _outputs(self, signature: str, image) -> Dict[str, tf.Tensor]:
    direction, kind = _ROUTES[signature]
    out = self._run(direction, image)
    if kind == "float":
      return {"image": tf.cast(out["image"], tf.float32)}
    result = {"image": pixels.to_uint8(out["image"])}
    if kind == "attention":
      result["attention"] = attention_uint8(out["heatmap"], self._size)
    return result

  @tf.function(input_signature=[_IMAGE], autograph=False)
  def serving_default(self, image):
    return self._outputs("serving_default", image)

  @tf.function(input_signature=[_IMAGE], autograph=False)
  def a2b(self, image):
    return self._outputs("a2b", image)

  @tf.function(input_signature=[_IMAGE], autograph=False)
  def b2a(self, image):
    return self._outputs("b2a", image)

  @tf.function(input_signature=[_IMAGE], autograph=False)
  def a2b_float(self, image):
    return self._outputs("a2b_float", image)

  @tf.function(input_signature=[_IMAGE], autograph=False)
  def b2a_float(self, image):
    return self._outputs("b2a_float", image)

  def examples(self, rng: np.random.Generator,
               batch_size: int = 2) -> Dict[str, sig.Example]:
    """Random images; uint8 outputs may differ by 1 (rounding), floats by
    `sig.TOLERANCE`."""
    image = rng.integers(0, 256, (batch_size, self._size, self._size, 3),
                         np.uint8)
    examples = {}
    for name in self.SIGNATURES:
      expected = {k: v.numpy() for k, v in self._outputs(name, image).items()}
      tolerance = sig.TOLERANCE if _ROUTES[name][1] == "float" else 1
      examples[name] = sig.Example({"image": image}, expected, tolerance)
    return examples


class AttentionExport(UnpairedExport):
  """U-GAT-IT's: every signature, a2b_attention too."""

  SIGNATURES = UnpairedExport.SIGNATURES + ("a2b_attention",)

  @tf.function(input_signature=[_IMAGE], autograph=False)
  def a2b_attention(self, image):
    return self._outputs("a2b_attention", image)
