"""Any folder of JPEG/PNG images as batches, for the unconditional baselines.

Anime faces, CelebA, a phone's camera roll: every `.jpg`, `.jpeg` and `.png`
under the root (recursively, any letter case) is decoded once, centre-cropped
to a square and resized by `decode.read_photo`, as a user's photos are,
and kept in memory as uint8; batches are then in-graph gathers. Bad files
are skipped, counted and logged once, as in `reader`, so one truncated
download never stops a run.

Memory is N x S x S x 3 bytes, once: CelebA's 202,599 photos at 64 px take
2.5 GB of RAM; use fewer images or a smaller size on a small machine.
"""

import os
from typing import Dict, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from s2f_tf import pixels
from s2f_tf.data import decode
from s2f_tf.data import layout


def image_folder(root: str) -> str:
  """`root`, or its photo folder when it holds the CelebAMask-HQ layout.

  A CelebAMask-HQ (or synthetic) root also holds masks and sketches as PNGs,
  which must not become training images.

  Raises:
    FileNotFoundError: `root` is not a directory.
  """
  if not os.path.isdir(root):
    raise FileNotFoundError(f"image folder {root} not found: expected a "
                            f"directory of {'/'.join(decode.EXTENSIONS)} "
                            "images")
  photos = os.path.join(root, layout.IMAGE_DIR)
  return photos if os.path.isdir(photos) else root


def load_images(root: str, image_size: int,
                workers: int = 4) -> Tuple[np.ndarray, Dict[str, str]]:
  """(uint8 RGB [N, S, S, 3] of every usable image, {bad path: reason}).

  Raises:
    FileNotFoundError: `root` is not a directory.
    ValueError: no image file under `root`, or none that decodes.
  """
  folder = image_folder(root)
  paths = decode.list_images(folder)
  if not paths:
    raise ValueError(f"{folder} holds no {'/'.join(decode.EXTENSIONS)} image "
                     "(searched recursively, any letter case)")
  images, _, skipped = decode.read_photos(paths, image_size, workers)
  if not len(images):
    raise ValueError(f"no usable image under {folder}: all {len(paths)} were "
                     "skipped (see the warnings above for each path and "
                     "reason)")
  logging.info("Loaded %d images from %s at %d px; skipped %d",
               len(images), folder, image_size, len(skipped))
  return images, skipped


def make_image_dataset(root: str, image_size: int, batch_size: int, *,
                       seed: int = 0, shuffle: bool = True,
                       repeat: bool = True) -> tf.data.Dataset:
  """Batches {"image": float32 [B, S, S, 3] in [-1, 1]} with static shapes.

  Each image appears once per epoch (a seeded reshuffle per epoch); a last
  partial batch is dropped so every batch has exactly `batch_size` rows.

  Raises:
    FileNotFoundError: `root` is not a directory.
    ValueError: no usable image, or (without repeat) fewer than one batch.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  images, _ = load_images(root, image_size)
  if not repeat and len(images) < batch_size:
    raise ValueError(f"only {len(images)} images under {root}, fewer than "
                     f"one batch of {batch_size}; lower batch_size or pass "
                     "repeat=True")
  ds = tf.data.Dataset.range(len(images))
  if shuffle:
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.batch(batch_size, drop_remainder=True)
  # One copy in TF memory, captured as a constant (see the module docstring).
  table = tf.constant(images)

  def to_batch(index):
    image = pixels.to_unit(tf.gather(table, index))
    return {"image": image}

  # Plain graph code: autograph would only re-parse its source.
  return ds.map(tf.autograph.experimental.do_not_convert(to_batch),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True).prefetch(tf.data.AUTOTUNE)
