"""Sliced Wasserstein distance on Laplacian-pyramid patches.

Karras et al. 2018 (progressive GANs), arXiv:1710.10196, Section 5 and the
official metrics/sliced_wasserstein.py, whose structure this follows:
  * a Laplacian pyramid per image, one level per resolution from the image
    size down to 16 px (64 px: 64, 32, 16), built with the 5-tap binomial
    filter and mirrored borders of cv2.pyrDown / cv2.pyrUp;
  * 128 random 7 x 7 x 3 patches ("descriptors") per image and level;
  * per set and level, descriptors normalised per colour channel to zero
    mean and unit standard deviation;
  * 4 repeats of 128 random unit directions; per direction, the projections
    of both sets are sorted and their mean absolute difference is the 1-D
    Wasserstein distance; averaged over directions and repeats.
Reported x 1e3 per level and averaged over levels, as in the paper's tables.
It needs no weights, so it is the metric CPU demos and tests rely on.

Memory: a set keeps 128 x 147 values per image and level, stored as float16
(2 bytes; rounding of at most 1/8 of a uint8 step at 255, below the images'
own quantisation): 10,000 images at 64 px hold 3 x 376 MB per set.
"""

import dataclasses
from typing import Dict, List

import cv2
import numpy as np

PATCH = 7
PATCHES_PER_IMAGE = 128
DIRECTIONS = 128
REPEATS = 4
MIN_RESOLUTION = 16


class SwdError(ValueError):
  """Images SWD cannot measure, or two sets it cannot compare."""


def resolutions(image_size: int) -> List[int]:
  """The pyramid levels' sizes: image_size, halved while at least 16 px."""
  sizes = []
  while image_size >= MIN_RESOLUTION:
    sizes.append(image_size)
    image_size //= 2
  return sizes


def laplacian_pyramid(image: np.ndarray, levels: int) -> List[np.ndarray]:
  """Band-pass levels of one [H, W, 3] image, finest first, low-pass last."""
  pyramid = [np.float32(image)]
  for _ in range(1, levels):
    down = cv2.pyrDown(pyramid[-1])
    height, width = pyramid[-1].shape[:2]
    pyramid[-1] = pyramid[-1] - cv2.pyrUp(down, dstsize=(width, height))
    pyramid.append(down)
  return pyramid


class Descriptors:
  """Patch descriptors of a stream of [b, S, S, 3] image batches (uint8 or
  float), per pyramid level, with per-channel sums for normalisation."""

  def __init__(self, image_size: int, seed: int = 0):
    self.resolutions = resolutions(image_size)
    if not self.resolutions:
      raise SwdError(f"SWD needs images of at least {MIN_RESOLUTION} px "
                     f"(its coarsest pyramid level), got {image_size} px")
    self.image_size = image_size
    self.count = 0
    self._rng = np.random.RandomState(seed)
    self._patches = [[] for _ in self.resolutions]
    self._sums = np.zeros((len(self.resolutions), 2, 3))  # sum, sum sq

  def update(self, images: np.ndarray) -> None:
    if images.shape[1:] != (self.image_size, self.image_size, 3):
      raise SwdError(f"SWD images must be [b, {self.image_size}, "
                     f"{self.image_size}, 3], got {list(images.shape)}")
    pyramids = [laplacian_pyramid(im, len(self.resolutions)) for im in images]
    for level in range(len(self.resolutions)):
      patches = self._sample(np.stack([p[level] for p in pyramids]))
      wide = patches.astype(np.float64)
      self._sums[level, 0] += wide.sum(axis=(0, 1, 2))
      self._sums[level, 1] += np.square(wide).sum(axis=(0, 1, 2))
      self._patches[level].append(patches.reshape(len(patches), -1))
    self.count += len(images)

  def _sample(self, level: np.ndarray) -> np.ndarray:
    """128 random 7 x 7 patches per image: [b * 128, 7, 7, 3] float16."""
    b, size = level.shape[0], level.shape[1]
    n, half = b * PATCHES_PER_IMAGE, PATCH // 2
    image = np.repeat(np.arange(b), PATCHES_PER_IMAGE)[:, None, None]
    ys = self._rng.randint(half, size - half, n)[:, None, None]
    xs = self._rng.randint(half, size - half, n)[:, None, None]
    offsets = np.arange(-half, half + 1)
    return level[image, ys + offsets[None, :, None],
                 xs + offsets[None, None, :]].astype(np.float16)

  def level(self, index: int):
    """(descriptor chunks [n_i, 147] float16, mean [147], std [147]).

    Normalising, (d - mean) / std, is left to the projection, so neither a
    normalised nor a concatenated copy of the descriptors is ever made.
    """
    chunks = self._patches[index]
    count = sum(len(c) for c in chunks) * PATCH * PATCH
    mean = self._sums[index, 0] / count
    std = np.sqrt(np.maximum(self._sums[index, 1] / count - mean**2, 1e-12))
    tile = lambda v: np.tile(v, PATCH * PATCH)  # channel-last patch layout
    return chunks, tile(mean), tile(std)


def _sorted_projections(descriptors, directions):
  """Sorted projections [k, n] of the normalised descriptors.

  Directions are rows so each sort runs over contiguous memory: about 8x
  faster than sorting the columns of [n, k].
  """
  chunks, mean, std = descriptors
  scaled = (directions / std[:, None]).T.astype(np.float32)  # [k, 147]
  offset = ((mean / std) @ directions).astype(np.float32)[:, None]
  out = np.concatenate([scaled @ c.T.astype(np.float32) for c in chunks],
                       axis=1)
  out -= offset
  out.sort(axis=1)
  return out


def _level_distance(real, fake, rng, chunk=32) -> float:
  """Mean over 4 x 128 random directions of the 1-D Wasserstein distance."""
  means = []
  for _ in range(REPEATS):
    directions = rng.randn(len(real[1]), DIRECTIONS)
    directions /= np.sqrt(np.square(directions).sum(axis=0, keepdims=True))
    for i in range(0, DIRECTIONS, chunk):  # bounds memory to n x 32 floats
      part = directions[:, i:i + chunk]
      diff = np.abs(_sorted_projections(real, part) -
                    _sorted_projections(fake, part))
      means.append(diff.mean())
  return float(np.mean(means))


@dataclasses.dataclass(frozen=True)
class Swd:
  per_level: Dict[int, float]  # resolution -> SWD x 1e3
  average: float
  images: int


def swd(real: Descriptors, fake: Descriptors, seed: int = 0) -> Swd:
  """SWD x 1e3 between two equally large sets, per level and averaged."""
  if real.count != fake.count or real.resolutions != fake.resolutions:
    raise SwdError(f"SWD compares equal sets: got {real.count} real images "
                   f"at {real.image_size} px and {fake.count} generated at "
                   f"{fake.image_size} px")
  if real.count == 0:
    raise SwdError("SWD got no images")
  rng = np.random.RandomState(seed)
  per_level = {
      size: 1e3 * _level_distance(real.level(i), fake.level(i), rng)
      for i, size in enumerate(real.resolutions)
  }
  return Swd(per_level, float(np.mean(list(per_level.values()))), real.count)
