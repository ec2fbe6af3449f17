"""The one mapping between uint8 pixels and the models' [-1, 1] range.

Training data, evaluation, summaries, the projector command and the serving
signatures all convert with these two functions, so an image round-trips the
same way everywhere. NumPy in gives NumPy out; tensors give tensors.
"""

import numpy as np
import tensorflow as tf


def to_unit(pixels):
  """uint8 [0, 255] (or float pixel values) -> float32 [-1, 1]."""
  if isinstance(pixels, np.ndarray):
    return pixels.astype(np.float32) / 127.5 - 1.0
  return tf.cast(pixels, tf.float32) / 127.5 - 1.0


def to_uint8(values):
  """[-1, 1] -> uint8 [0, 255], rounded (half to even) and clipped."""
  if isinstance(values, np.ndarray):
    scaled = np.round((values.astype(np.float32) + 1.0) * 127.5)
    return np.clip(scaled, 0, 255).astype(np.uint8)
  scaled = tf.round((tf.cast(values, tf.float32) + 1.0) * 127.5)
  return tf.cast(tf.clip_by_value(scaled, 0.0, 255.0), tf.uint8)
