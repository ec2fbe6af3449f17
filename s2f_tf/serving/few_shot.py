"""Serving signatures of the few-shot sketch-to-face generator.

B is the batch, K the number of reference photos (it may differ from call to
call), S the model's image size:

  serving_default  sketch uint8 [B, S, S, 1], refs uint8 [B, K, S, S, 3]
                   -> image uint8 [B, S, S, 3]
  serving_float    the same in float32 on [-1, 1], the model's own scale
  encode_style     refs uint8 [B, K, S, S, 3] -> style float32 [B, style_dim]
  generate         sketch uint8, style float32 [B, style_dim] -> image uint8

`encode_style` + `generate` let a service compute a person's style code once
and reuse it for every sketch. Files feed `serving_default` (`input_files`).
"""

from typing import Dict, Tuple

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import images
from s2f_tf import pixels
from s2f_tf.serving import signatures as sig


def input_files(signature: str, sketch_method: str
                ) -> Tuple[sig.InputFile, ...]:
  """serving_default's sketch (a drawing, or a photo drawn by the model's
  `sketch_method`) and refs; the other signatures take floats, no files."""
  if signature != "serving_default":
    return ()
  return (
      sig.InputFile("sketch", "sketch", images.Sketch(), "a sketch"),
      sig.InputFile("sketch", "sketch_from",
                    images.SketchFromPhoto(sketch_method),
                    "a photo to draw the sketch from"),
      sig.InputFile("refs", "refs", images.Photos(), "reference photos",
                    missing="this model draws the person of its reference "
                    "photos: pass --refs=a.jpg,b.jpg"))


class FewShotExport(sig.ExportModule):
  """The sketch-to-face generator as four serving signatures."""

  SIGNATURES = ("serving_default", "serving_float", "encode_style",
                "generate")

  def __init__(self, generator: keras.Model, k_refs: int):
    super().__init__(generator, name="s2f_generator")
    self._encode, self._generate = generator.encode_style, generator.generate
    self._k_refs = k_refs  # K of the verification batch only.
    size = generator.image_size
    self._sketch_dims = ("B", size, size, 1)
    self._refs_dims = ("B", "K", size, size, 3)
    self._style_dims = ("B", generator.family_config.style_dim)
    self._call = generator.__call__  # A bound method: not tracked.

  def _image(self, sketch, refs):
    """Checked inputs in their own dtype -> image float32 in [-1, 1]."""
    sketch = sig.checked(sketch, "sketch", self._sketch_dims)
    refs = sig.same_batch(sketch, sig.checked(refs, "refs", self._refs_dims),
                          "sketch and refs")
    if sketch.dtype == tf.uint8:
      sketch, refs = pixels.to_unit(sketch), pixels.to_unit(refs)
    return self._generate(sketch, self._encode(refs))

  @tf.function(input_signature=[sig.spec(4, tf.uint8, "sketch"),
                                sig.spec(5, tf.uint8, "refs")],
               jit_compile=False, autograph=False)
  def serving_default(self, sketch, refs):
    return {"image": pixels.to_uint8(self._image(sketch, refs))}

  @tf.function(input_signature=[sig.spec(4, tf.float32, "sketch"),
                                sig.spec(5, tf.float32, "refs")],
               jit_compile=False, autograph=False)
  def serving_float(self, sketch, refs):
    return {"image": self._image(sketch, refs)}

  @tf.function(input_signature=[sig.spec(5, tf.uint8, "refs")],
               jit_compile=False, autograph=False)
  def encode_style(self, refs):
    refs = sig.checked(refs, "refs", self._refs_dims)
    style = self._encode(pixels.to_unit(refs))
    return {"style": tf.ensure_shape(style, [None, self._style_dims[1]])}

  @tf.function(input_signature=[sig.spec(4, tf.uint8, "sketch"),
                                sig.spec(2, tf.float32, "style")],
               jit_compile=False, autograph=False)
  def generate(self, sketch, style):
    sketch = sig.checked(sketch, "sketch", self._sketch_dims)
    style = sig.same_batch(sketch,
                           sig.checked(style, "style", self._style_dims),
                           "sketch and style")
    image = self._generate(pixels.to_unit(sketch), style)
    return {"image": pixels.to_uint8(image)}

  def examples(self, rng: np.random.Generator,
               batch_size: int = 2) -> Dict[str, sig.Example]:
    """Random uint8 inputs; uint8 images may differ by 1 (rounding)."""
    size = self._sketch_dims[1]
    sketch = rng.integers(0, 256, (batch_size, size, size, 1), np.uint8)
    refs = rng.integers(0, 256, (batch_size, self._k_refs, size, size, 3),
                        np.uint8)
    unit = pixels.to_unit
    image = self._call({"sketch": unit(sketch), "refs": unit(refs)}).numpy()
    style = self._encode(unit(refs)).numpy()
    return {
        "serving_default": sig.Example({"sketch": sketch, "refs": refs},
                                       pixels.to_uint8(image), 1),
        "serving_float": sig.Example(
            {"sketch": unit(sketch), "refs": unit(refs)}, image, sig.TOLERANCE),
        "encode_style": sig.Example({"refs": refs}, style, sig.TOLERANCE),
        "generate": sig.Example({"sketch": sketch, "style": style},
                                pixels.to_uint8(image), 1),
    }
