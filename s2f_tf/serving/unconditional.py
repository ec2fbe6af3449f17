"""Serving signatures of an unconditional (noise -> image) generator.

  serving_default  z float32 [B, z_dim] -> image uint8 [B, S, S, 3]
  serving_float    z float32 [B, z_dim] -> image float32 [B, S, S, 3] on [-1, 1]

The noise is an input, not drawn inside the graph, so a client can
reproduce a sample or walk the latent space; `s2f-serve` draws it from a
seed (`input_values`).
"""

from typing import Dict, Tuple

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import pixels
from s2f_tf.serving import signatures as sig


def input_values(signature: str, z_dim: int) -> Tuple[sig.InputValue, ...]:
  """The image signatures' noise, from a seed."""
  if signature not in UnconditionalExport.SIGNATURES:
    return ()
  return (sig.InputValue("z", sig.Noise(z_dim), "the noise's seed"),)


class UnconditionalExport(sig.ExportModule):
  """A noise -> image generator as two serving signatures."""

  SIGNATURES = ("serving_default", "serving_float")

  def __init__(self, generator: keras.Model, z_dim: int):
    super().__init__(generator, name="unconditional_generator")
    self._call = generator.__call__  # A bound method: not tracked.
    self._z_dims = ("B", z_dim)

  def _image(self, z):
    return self._call(sig.checked(z, "z", self._z_dims), training=False)

  @tf.function(input_signature=[sig.spec(2, tf.float32, "z")],
               jit_compile=False, autograph=False)
  def serving_default(self, z):
    return {"image": pixels.to_uint8(self._image(z))}

  @tf.function(input_signature=[sig.spec(2, tf.float32, "z")],
               jit_compile=False, autograph=False)
  def serving_float(self, z):
    return {"image": tf.cast(self._image(z), tf.float32)}

  def examples(self, rng: np.random.Generator,
               batch_size: int = 2) -> Dict[str, sig.Example]:
    """Standard normal noise; uint8 images may differ by 1 (rounding)."""
    z = rng.standard_normal((batch_size, self._z_dims[1])).astype(np.float32)
    image = np.asarray(self._call(z, training=False), np.float32)
    return {"serving_default": sig.Example({"z": z}, pixels.to_uint8(image), 1),
            "serving_float": sig.Example({"z": z}, image, sig.TOLERANCE)}
