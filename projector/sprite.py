"""Sprite sheets for the Embedding Projector: one thumbnail per point.

The projector frontend draws point i with tile i of one image, tiles laid out
row-major, and rejects sprites wider or taller than 8192 px (its WebGL texture
limit, `ky=8192` in tensorboard/plugins/projector/tf_projector_plugin/
projector_binary.js). So the grid is square with ceil(sqrt(N)) tiles a side
and a tile is the largest square that fits, capped at the images' own size:
upsampling would only make the file bigger.

Images are uint8 in [0, 255] or floats in `image_range` ((-1, 1) by default,
the range of the generator's tanh and of our data pipeline), with 1 or 3
channels. The sheet is saved as JPEG: PNG of a 8100 px sheet takes 4-7 s to
compress on one core and is 8x bigger (tools/bench_projector.py measures it),
and the sheet is only a preview.
"""

import io
import math
from typing import Optional, Tuple

import cv2
import numpy as np
from PIL import Image

MAX_SPRITE_PX = 8192
_CHUNK = 256  # Images converted to uint8 at once: bounds the float copy.
_JPEG_QUALITY = 90


def grid_side(n: int) -> int:
  """Tiles per side of the square grid that holds `n` tiles."""
  return math.isqrt(n - 1) + 1


def choose_tile(n: int, image_size: int, tile: Optional[int] = None) -> int:
  """Returns the tile size in pixels, or raises if the sprite cannot fit.

  Args:
    n: number of points (tiles).
    image_size: the longer side of the input images; tiles never exceed it.
    tile: a requested tile size; None picks the largest one that fits.
  """
  side = grid_side(n)
  largest = MAX_SPRITE_PX // side
  if largest < 1:
    raise ValueError(
        f"a sprite for {n} points needs {side} tiles a side, more than the "
        f"projector's {MAX_SPRITE_PX} px limit even at 1 px a tile; export at "
        f"most {MAX_SPRITE_PX ** 2} points with images, or pass images=None.")
  if tile is None:
    return min(image_size, largest)
  if tile < 1 or side * tile > MAX_SPRITE_PX:
    raise ValueError(
        f"sprite_tile={tile} gives a {side * tile} px sprite ({side} tiles a "
        f"side for {n} points), outside 1..{MAX_SPRITE_PX} px, the projector's "
        f"limit; pass 1 <= sprite_tile <= {largest}, or sprite_tile=None to "
        f"pick the largest tile that fits.")
  return tile


def check_images(images, n: int,
                 image_range: Tuple[float, float]) -> np.ndarray:
  """Returns `images` as an array after checking shape, dtype and range.

  Checked before anything is written, so a bad image never leaves a
  half-exported embedding behind.
  """
  images = np.asarray(images)
  if images.ndim not in (3, 4) or (images.ndim == 4 and
                                   images.shape[-1] not in (1, 3)):
    raise ValueError(
        f"images have shape {images.shape}; pass [N, H, W], [N, H, W, 1] or "
        f"[N, H, W, 3], one image per point.")
  if images.shape[0] != n:
    raise ValueError(
        f"{images.shape[0]} images for {n} points; pass one image per point, "
        f"in the same order as the embeddings.")
  if images.dtype != np.uint8 and images.dtype.kind != "f":
    raise ValueError(
        f"images have dtype {images.dtype}; pass uint8 in [0, 255] or floats "
        f"in image_range={image_range}.")
  if images.dtype.kind == "f":
    lo, hi = float(images.min()), float(images.max())
    if not (image_range[0] <= lo and hi <= image_range[1]):
      raise ValueError(
          f"float images span [{lo:g}, {hi:g}], outside image_range="
          f"{image_range}; pass the range they were made in, e.g. (0, 1), "
          f"or uint8 images.")
  return images


def _to_uint8(images: np.ndarray,
              image_range: Tuple[float, float]) -> np.ndarray:
  if images.dtype == np.uint8:
    return images
  lo, hi = image_range
  scaled = (images.astype(np.float32) - lo) * (255.0 / (hi - lo)) + 0.5
  return np.clip(scaled, 0, 255).astype(np.uint8)


def build_sprite(images: np.ndarray, tile: int,
                 image_range: Tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
  """Lays out `images` (checked by `check_images`) as a uint8 RGB sheet.

  Args:
    images: [N, H, W(, C)] uint8 or floats in `image_range`.
    tile: tile size from `choose_tile`; non-square images are squashed.
    image_range: the value range of float images.

  Returns:
    [side * tile, side * tile, 3] uint8, empty cells black.
  """
  n = images.shape[0]
  side = grid_side(n)
  sheet = np.zeros((side * tile, side * tile, 3), np.uint8)
  for start in range(0, n, _CHUNK):
    for i, image in enumerate(_to_uint8(images[start:start + _CHUNK],
                                        image_range), start):
      if image.shape[:2] != (tile, tile):
        # INTER_AREA averages source pixels: no aliasing when shrinking.
        image = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
      if image.ndim == 2:
        image = image[..., None]
      y, x = (i // side) * tile, (i % side) * tile
      sheet[y:y + tile, x:x + tile] = image  # Broadcasts grey to RGB.
  return sheet


def encode_sprite(sheet: np.ndarray) -> bytes:
  """The sheet as JPEG (see the module docstring for why not PNG)."""
  buffer = io.BytesIO()
  Image.fromarray(sheet).save(buffer, format="JPEG", quality=_JPEG_QUALITY)
  return buffer.getvalue()
