"""TensorBoard scalars, image grids and histograms, and the PNG copies of grids.

Everything here runs eagerly on values the compiled steps already returned, so
writing a summary can never add an op to, or retrace, a step function.
"""

import io
import math
from typing import Dict, Iterable, Optional, Sequence

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


def map_tiles(maps: np.ndarray, height: int, width: int) -> np.ndarray:
  """Auxiliary maps [N, h, w, 1] (e.g. CAM attention) -> uint8 gray RGB
  tiles [N, height, width, 3].

  Each map is stretched to its own min..max, as U-GAT-IT draws its CAM
  heatmaps (Kim et al. 2020, arXiv:1907.10830), so [0, 1] and [-1, 1] maps
  read alike; a constant map is black. Smaller maps are upsampled by
  repetition to the image tiles' size.
  """
  maps = np.asarray(maps, np.float32)
  maps = maps.reshape(maps.shape[:3])  # [N, h, w, 1] or [N, h, w].
  low = maps.min(axis=(1, 2), keepdims=True)
  span = maps.max(axis=(1, 2), keepdims=True) - low
  gray = np.where(span > 0, (maps - low) / np.maximum(span, 1e-12), 0.0)
  if height % gray.shape[1] or width % gray.shape[2]:
    raise ValueError(f"an auxiliary map of {gray.shape[1]}x{gray.shape[2]} "
                     f"does not tile an image of {height}x{width}; return "
                     "maps whose size divides the image's")
  gray = gray.repeat(height // gray.shape[1], axis=1).repeat(
      width // gray.shape[2], axis=2)
  return np.repeat(np.round(gray * 255.0).astype(np.uint8)[..., None], 3,
                   axis=-1)


def _with_maps(tiles: np.ndarray, maps: Iterable[np.ndarray]) -> np.ndarray:
  """uint8 tiles [N, H, W, 3] with each map's tile to their right."""
  height, width = tiles.shape[1:3]
  return np.concatenate([tiles] + [map_tiles(m, height, width) for m in maps],
                        axis=2)


def episode_grid(sketch, refs, output, target, max_rows: int = 4,
                 maps: Iterable[np.ndarray] = ()) -> np.ndarray:
  """One row per episode: sketch | ref_1..ref_K | output | target (uint8).

  A reader sees at a glance whether the output follows the sketch's geometry
  and the references' colours. Auxiliary maps of the output (a sampler's
  nest, e.g. [B, H, W, 1] attention) follow the output, one column each.
  """
  n = min(max_rows, sketch.shape[0])
  output = _with_maps(to_uint8(output[:n]), maps)
  rows = []
  for i in range(n):
    tiles = [to_uint8(t) for t in [sketch[i]] + list(refs[i])]
    rows.append(np.concatenate(tiles + [output[i], to_uint8(target[i])],
                               axis=1))
  return np.concatenate(rows, axis=0)


def save_png(image: np.ndarray, path: str) -> None:
  """Writes atomically: a full disk leaves no half PNG for the GIF to read."""
  encoded = io.BytesIO()
  Image.fromarray(image).save(encoded, format="PNG")
  files.write_atomically(path, encoded.getvalue())


def image_grid(images, rows: Optional[int] = None,
               maps: Iterable[np.ndarray] = ()) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> one uint8 RGB picture, row-major tiles.

  By default the grid is as square as N allows (ceil(sqrt(N)) columns), so a
  fixed-noise batch reads at a glance; with `rows` the columns follow.
  Unfilled tiles of the last row stay black. Auxiliary maps [N, H, W, 1]
  (a sampler's nest) widen each tile: the image, then each map.
  """
  tiles = _with_maps(to_uint8(images), maps)
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
