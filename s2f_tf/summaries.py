"""TensorBoard scalars, image grids and histograms, and the PNG copies of grids.

Everything here runs eagerly on values the compiled steps already returned, so
writing a summary can never add an op to, or retrace, a step function.
"""

import io
import math
from typing import Dict, Optional, Sequence

import numpy as np
from PIL import Image
import tensorflow as tf

from s2f_tf import files
from s2f_tf import pixels


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats (any leading dims) -> uint8 RGB; 1 channel -> 3."""
  images = np.asarray(images, np.float32)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  return pixels.to_uint8(images)


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
  """Writes atomically: a full disk leaves no half PNG for the GIF to read."""
  encoded = io.BytesIO()
  Image.fromarray(image).save(encoded, format="PNG")
  files.write_atomically(path, encoded.getvalue())


def image_grid(images, rows: Optional[int] = None) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> one uint8 RGB picture, row-major tiles.

  By default the grid is as square as N allows (ceil(sqrt(N)) columns), so a
  fixed-noise batch reads at a glance; with `rows` the columns follow.
  Unfilled tiles of the last row stay black.
  """
  tiles = to_uint8(images)
  n, height, width = tiles.shape[:3]
  cols = math.ceil(n / rows) if rows else math.ceil(math.sqrt(n))
  rows = math.ceil(n / cols)
  grid = np.zeros((rows * cols, height, width, 3), np.uint8)
  grid[:n] = tiles
  grid = grid.reshape(rows, cols, height, width, 3).swapaxes(1, 2)
  return grid.reshape(rows * height, cols * width, 3)


def write_gif(png_paths: Sequence[str], out_path: str,
              duration_ms: int = 200) -> None:
  """The PNGs as the frames of a looping GIF, e.g. a run's sample grids.

  GIF holds 256 colours per frame, fine for watching progress, not for
  judging quality (keep the PNGs for that). Pillow merges identical
  consecutive frames into one longer frame.
  """
  if not png_paths:
    raise ValueError(f"no frames for {out_path}")
  frames = []
  for path in png_paths:
    with Image.open(path) as frame:
      frames.append(frame.convert("RGB"))
  encoded = io.BytesIO()
  frames[0].save(encoded, format="GIF", save_all=True,
                 append_images=frames[1:], duration=duration_ms, loop=0)
  files.write_atomically(out_path, encoded.getvalue())


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
