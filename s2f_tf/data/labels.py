"""Label maps for label-map -> face models: validation and label files.

A class id at or past the model's `label_nc` would one-hot to an all-zero
pixel, which SPADE, CLADE and SEAN all read as "no class": the model would
train or sample on garbage without a word. So every label map is checked
before it reaches a model, and the error names the file it came from.
"""

from typing import Sequence

import cv2
import numpy as np

from s2f_tf.data import decode
from s2f_tf.data import layout


# CelebAMask-HQ's own colours for its classes (its g_color.py), in
# layout.CLASS_NAMES order: maps in grids look like the dataset's previews.
CLASS_COLOURS = np.array([
    [0, 0, 0], [204, 0, 0], [76, 153, 0], [204, 204, 0], [51, 51, 255],
    [204, 0, 204], [0, 255, 255], [255, 204, 204], [102, 51, 0], [255, 0, 0],
    [102, 204, 0], [255, 255, 0], [0, 0, 153], [0, 0, 204], [255, 51, 153],
    [0, 204, 204], [0, 51, 0], [255, 153, 51], [0, 204, 0]], np.uint8)


def colourize(masks: np.ndarray) -> np.ndarray:
  """Class ids [..., H, W] -> uint8 RGB [..., H, W, 3], for pictures."""
  return CLASS_COLOURS[masks]


def check_class_ids(masks: np.ndarray, label_nc: int,
                    sources: Sequence[str]) -> None:
  """Raises ValueError naming the first map with a class id >= label_nc.

  Args:
    masks: uint8 or int class ids [N, H, W].
    label_nc: classes the model knows (ids 0 .. label_nc - 1).
    sources: N file names, one per map, for the message.
  """
  if not len(masks):
    return
  peaks = masks.reshape(len(masks), -1).max(axis=1)
  bad = np.flatnonzero(peaks >= label_nc)
  if len(bad):
    row = int(bad[0])
    names = ", ".join(layout.CLASS_NAMES[:label_nc][:4])
    raise ValueError(
        f"{sources[row]}: label value {int(peaks[row])} >= --label_nc="
        f"{label_nc} (classes are 0 .. {label_nc - 1}: {names}, ...); "
        f"{len(bad)} of {len(masks)} maps are affected: raise --label_nc "
        "or fix the masks")


def read_class_map(path: str, size: int, label_nc: int) -> np.ndarray:
  """A PNG of class ids (CelebAMask-HQ order) -> uint8 [size, size].

  The file holds one class id per pixel (a gray PNG, or RGB with equal
  channels). A square map of another size is resized nearest-neighbour, so
  CelebAMask-HQ's 512 px maps serve any model; anything else is an error.

  Raises:
    ValueError: unreadable, colour-coded, not square, or with an id >=
      label_nc, naming `path`.
  """
  try:
    image = decode.read_image(path, "rgb")
  except decode.BadFile as e:
    raise ValueError(str(e)) from None
  if not (np.array_equal(image[..., 0], image[..., 1]) and
          np.array_equal(image[..., 0], image[..., 2])):
    raise ValueError(f"{path}: a label map holds one class id per pixel "
                     "(gray PNG); this one is colour-coded")
  labels = image[..., 0]
  if labels.shape[0] != labels.shape[1]:
    raise ValueError(f"{path}: is {labels.shape[1]}x{labels.shape[0]}; "
                     f"expected a square map ({size}x{size} or larger)")
  check_class_ids(labels[None], label_nc, [path])
  if labels.shape[0] != size:
    labels = cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)
  return labels
