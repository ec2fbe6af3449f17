"""TensorBoard scalars, image grids and histograms, and the PNG copies of grids.

Everything here runs eagerly on values the compiled steps already returned, so
writing a summary can never add an op to, or retrace, a step function.
"""

import os
from typing import Dict, Sequence

import numpy as np
from PIL import Image
import tensorflow as tf


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats (any leading dims) -> uint8 RGB; 1 channel -> 3."""
  images = np.asarray(images, np.float32)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  return np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def episode_grid(sketch, refs, output, target, max_rows: int = 4) -> np.ndarray:
  """One row per episode: sketch | ref_1..ref_K | output | target (uint8).

  A reader sees at a glance whether the output follows the sketch's geometry
  and the references' colours.
  """
  n = min(max_rows, sketch.shape[0])
  rows = []
  for i in range(n):
    tiles = [sketch[i]] + list(refs[i]) + [output[i], target[i]]
    rows.append(np.concatenate([to_uint8(t) for t in tiles], axis=1))
  return np.concatenate(rows, axis=0)


def save_png(image: np.ndarray, path: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(image).save(path)


def write_scalars(writer, step: int, values: Dict[str, float],
                  prefix: str = "") -> None:
  with writer.as_default(step=step):
    for name, value in values.items():
      tf.summary.scalar(prefix + name, value)


def write_image(writer, step: int, name: str, image: np.ndarray) -> None:
  with writer.as_default(step=step):
    tf.summary.image(name, image[None], max_outputs=1)


def write_histograms(writer, step: int, player: str, variables: Sequence,
                     grads: Sequence) -> None:
  """Weights and gradients, named by layer path; AdaLIN rho summarised too."""
  with writer.as_default(step=step):
    for v, g in zip(variables, grads):
      tf.summary.histogram(f"weights/{player}/{v.path}", v)
      tf.summary.histogram(f"grads/{player}/{v.path}", g)
    rhos = [tf.reshape(v, [-1]) for v in variables if "rho" in v.path]
    if rhos:
      rho = tf.concat(rhos, axis=0)
      tf.summary.histogram(f"rho/{player}", rho)
      tf.summary.scalar(f"rho/{player}_mean", tf.reduce_mean(rho))
