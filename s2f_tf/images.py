"""A user's own photos, drawings and label maps -> uint8 model inputs.

Anything that takes images from a user (`s2f-sample`, a service's client)
reads them here, so a 1000x800 drawing on a transparent layer or a grayscale
reference photo reaches the model the way the training data did: square,
uint8, at the model's size. Decoding, the channel conversions (16-bit,
grayscale, alpha over white paper) and the square crop are the data layer's
(`decode.read_image`, `decode.fit_square`, `decode.read_photo`), the code
that reads the training set, so both agree by construction; label
maps go through the data layer's `labels.read_class_map` and its class-id
check. A file kind (`Photo`, `Sketch`, `LabelMap`, ...) says how a file,
or a list of files, becomes one uint8 serving input, a batch of 1; the
tasks declare which kind feeds which input (`Task.serving_inputs`).
"""

import dataclasses
from typing import Dict, List, Sequence, Union

import numpy as np

from s2f_tf.data import decode
from s2f_tf.data import labels as labels_lib
from s2f_tf.data import sketch as sketch_lib


def read_sketch(path: str, size: int) -> np.ndarray:
  """Drawing file -> uint8 [size, size, 1], dark lines on white paper.

  Transparent pixels count as paper. Raises decode.BadFile.
  """
  return decode.fit_square(decode.read_image(path, "gray"), size)[:, :, None]


def sketch_from_photo(path: str, size: int, method: str) -> np.ndarray:
  """Photo file -> its sketch, uint8 [size, size, 1], by the model's method.

  The sketch is drawn at the photo's own resolution and then shrunk, in the
  order the training set was made, so a photo of about the training photos'
  resolution gives lines of the width the model learned.

  Raises:
    decode.BadFile: an unreadable photo.
    ValueError: `method` needs a face-parsing map, which a photo lacks.
  """
  photo = decode.center_square(decode.read_image(path, "rgb"))
  try:
    drawing = sketch_lib.extract_sketch(photo, method)
  except ValueError as e:
    raise ValueError(f"cannot draw a sketch from {path}: {e}; draw it "
                     "yourself and pass it with --sketch") from None
  return decode.fit_square(drawing, size)[:, :, None]


def _read_labelled_photo(photo_path: str, labels_path: str,
                         size: int) -> np.ndarray:
  """A reference photo read under its own label map, uint8 [size, size, 3].

  A label map is square (`labels.read_class_map`), so its photo must be
  too: cropping only the photo would move every region off its mask.

  Raises:
    decode.BadFile: the photo is missing, unreadable or not square.
  """
  photo = decode.read_image(photo_path, "rgb")
  height, width = photo.shape[:2]
  if height != width:
    raise decode.BadFile(
        photo_path, f"is {width}x{height} but its label map {labels_path} "
        "is square; pass the square photo the map was drawn on")
  return decode.fit_square(photo, size)


def load_label_inputs(size: int, label_nc: int, labels_path: str,
                      ref_paths: Sequence[str] = (),
                      ref_label_paths: Sequence[str] = ()
                      ) -> Dict[str, np.ndarray]:
  """{"labels": [1, S, S]} (+ "refs" [1, K, S, S, 3], "ref_labels"
  [1, K, S, S] when references are given), uint8 class ids and photos.

  Maps are read by `labels.read_class_map`: one class id per pixel, square,
  resized nearest-neighbour to S as the training set is.

  Raises:
    decode.BadFile: naming the first photo that is missing, unreadable or
      not square.
    ValueError: naming the first map that is unreadable, colour-coded, not
      square or holds an id >= label_nc; or references without one map each.
  """
  if len(ref_paths) != len(ref_label_paths):
    raise ValueError(f"{len(ref_paths)} reference photos but "
                     f"{len(ref_label_paths)} label maps; each reference "
                     "needs its own map")
  feeds = {"labels": labels_lib.read_class_map(labels_path, size,
                                               label_nc)[None]}
  if ref_paths:
    maps = [labels_lib.read_class_map(path, size, label_nc)
            for path in ref_label_paths]
    refs = [_read_labelled_photo(photo, labels, size)
            for photo, labels in zip(ref_paths, ref_label_paths)]
    feeds.update(refs=np.stack(refs)[None], ref_labels=np.stack(maps)[None])
  return feeds


# File kinds -----------------------------------------------------------------


class FileKind:
  """How a file (or, when `many`, a list of files) becomes a uint8 input.

  `read` returns a batch of 1: one file gives [1, ...], a list of K files
  [1, K, ...] (the K reference photos of an episode, say).
  """

  many = False  # Whether it reads a list of files.

  def read_one(self, path: str, size: int) -> np.ndarray:
    """One file -> its uint8 array at the model's size."""
    raise NotImplementedError

  def read(self, paths: Union[str, List[str]], size: int) -> np.ndarray:
    """Raises decode.BadFile (or ValueError) naming the first bad file."""
    if self.many:
      return np.stack([self.read_one(path, size) for path in paths])[None]
    return self.read_one(paths, size)[None]


@dataclasses.dataclass(frozen=True)
class Photo(FileKind):
  """A photo -> [1, S, S, 3]."""

  def read_one(self, path, size):
    return read_photo(path, size)


@dataclasses.dataclass(frozen=True)
class Photos(Photo):
  """Photos -> [1, K, S, S, 3]."""

  many = True


@dataclasses.dataclass(frozen=True)
class Sketch(FileKind):
  """A drawing -> [1, S, S, 1]."""

  def read_one(self, path, size):
    return read_sketch(path, size)


@dataclasses.dataclass(frozen=True)
class SketchFromPhoto(FileKind):
  """A photo -> its sketch by `method` (the model's), [1, S, S, 1]."""

  method: str

  def read_one(self, path, size):
    return sketch_from_photo(path, size, self.method)


@dataclasses.dataclass(frozen=True)
class LabelMap(FileKind):
  """A map of class ids < `classes` -> [1, S, S] (`labels.read_class_map`)."""

  classes: int

  def read_one(self, path, size):
    return labels_lib.read_class_map(path, size, self.classes)


@dataclasses.dataclass(frozen=True)
class LabelMaps(LabelMap):
  """Maps of class ids -> [1, K, S, S]."""

  many = True
