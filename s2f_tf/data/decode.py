"""Image file I/O for the data layer: decode, validate, encode, in parallel.

Real datasets hold surprises: grayscale JPEGs, RGBA or 16-bit PNGs, truncated
downloads, HTML error pages saved as `.jpg`. Conversions are made here once;
anything that cannot be converted raises `BadFile`, which callers turn into a
skipped, counted and logged sample instead of a crashed epoch. Photos that
come without a dataset's layout (an image folder, a user's own files) are
centre-cropped to a square and resized here too (`read_photo`), and listed
and decoded in bulk (`list_images`, `read_photos`) for the image-folder
readers.
"""

import concurrent.futures
import os
from typing import (Callable, Dict, Iterable, List, Mapping, Sequence,
                    Tuple, TypeVar)

from absl import logging
import cv2
import numpy as np

from s2f_tf.data import layout

EXTENSIONS = (".jpg", ".jpeg", ".png")
_T = TypeVar("_T")
_R = TypeVar("_R")
# Paths already reported, so a bad file is logged once per process even when
# several passes (sketching, loading, a reload after a cache miss) meet it.
_LOGGED = set()


class BadFile(Exception):
  """A file that cannot be used; `path` and `reason` say which and why."""

  def __init__(self, path: str, reason: str):
    super().__init__(f"{path}: {reason}")
    self.path = path
    self.reason = reason


def read_image(path: str, mode: str) -> np.ndarray:
  """Reads an image as uint8 RGB [H, W, 3] ('rgb') or [H, W] ('gray', 'mask').

  Conversions: 16-bit is scaled to 8-bit; grayscale is replicated to RGB;
  alpha is composited over white for photos and sketches (transparent =
  paper) and over black for masks (transparent = part absent).

  Raises:
    BadFile: missing, truncated, undecodable or of an unsupported dtype.
  """
  if not os.path.exists(path):
    raise BadFile(path, "missing")
  data = np.fromfile(path, np.uint8)
  # libjpeg decodes a truncated JPEG without error (grey fill), so check for
  # the end-of-image marker ourselves.
  if data[:2].tobytes() == b"\xff\xd8" and not (
      data.tobytes().rstrip(b"\0\r\n ").endswith(b"\xff\xd9")):
    raise BadFile(path, "truncated JPEG (no end-of-image marker)")
  image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
  if image is None:
    raise BadFile(path, "not a decodable image")
  return _convert(path, image, mode)


def center_square(image: np.ndarray) -> np.ndarray:
  """The largest central square of `image`.

  Cropping, not padding or stretching: faces are centred in the training
  photos, and stretching would change their proportions.
  """
  height, width = image.shape[:2]
  side = min(height, width)
  top, left = (height - side) // 2, (width - side) // 2
  return image[top:top + side, left:left + side]


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
  """`center_square(image)` resized to size x size.

  Area averaging when shrinking, as the training set was shrunk; cubic
  when enlarging, where area averaging would repeat pixels.
  """
  square = center_square(image)
  if square.shape[0] == size:
    return square
  shrink = square.shape[0] > size
  return cv2.resize(square, (size, size),
                    interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def read_photo(path: str, size: int) -> np.ndarray:
  """Photo file -> uint8 RGB [size, size, 3]. Raises BadFile."""
  return fit_square(read_image(path, "rgb"), size)


def list_images(root: str) -> List[str]:
  """Every image file under `root`, recursively, sorted (a stable order).

  Any letter case of `EXTENSIONS`; hidden folders (`.s2f_cache`, ...) are
  not searched.
  """
  paths = []
  for folder, subfolders, files in os.walk(root):
    subfolders[:] = [d for d in subfolders if not d.startswith(".")]
    paths += [os.path.join(folder, f) for f in files
              if f.lower().endswith(EXTENSIONS)]
  return sorted(paths)


def read_photos(paths: Sequence[str], size: int, workers: int
                ) -> Tuple[np.ndarray, List[str], Dict[str, str]]:
  """`read_photo` of every path; bad files are logged once and skipped.

  Returns:
    (uint8 RGB [M, size, size, 3] of the M usable files, their paths in
    input order, {bad path: reason}).
  """
  images = np.zeros((len(paths), size, size, 3), np.uint8)

  def load(row: int):
    try:
      images[row] = read_photo(paths[row], size)
    except BadFile as e:
      log_bad_once(e)
      return e
    return None

  errors = parallel_map(load, range(len(paths)), workers)
  keep = [e is None for e in errors]
  return (images[np.array(keep, bool)],
          [p for p, ok in zip(paths, keep) if ok],
          {e.path: e.reason for e in errors if e is not None})


def _convert(path: str, image: np.ndarray, mode: str) -> np.ndarray:
  if image.dtype == np.uint16:
    image = np.round(image / 257.0).astype(np.uint8)
  elif image.dtype != np.uint8:
    raise BadFile(path, f"unsupported pixel type {image.dtype}")
  if image.ndim == 3 and image.shape[2] == 1:
    image = image[:, :, 0]
  if image.ndim == 3 and image.shape[2] == 4:
    alpha = image[:, :, 3:].astype(np.float32) / 255.0
    paper = 0.0 if mode == "mask" else 255.0
    image = (image[:, :, :3] * alpha + paper * (1.0 - alpha) + 0.5).astype(
        np.uint8)
  if image.ndim == 2:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if mode == "rgb" else image
  if image.ndim != 3 or image.shape[2] != 3:
    raise BadFile(path, f"unsupported image shape {image.shape}")
  code = cv2.COLOR_BGR2RGB if mode == "rgb" else cv2.COLOR_BGR2GRAY
  return cv2.cvtColor(image, code)


def read_label_map(root: str, idx: int, part_paths: Mapping[str, str],
                   image_shape: Tuple[int, int],
                   out_shape: Tuple[int, int]) -> np.ndarray:
  """Reads part masks and resolves them into a uint8 class-id map.

  Masks may be stored at another resolution than the photo (CelebAMask-HQ
  masks are 512 px, photos 1024 px) but must have the photo's aspect ratio,
  else they cannot be aligned with it, and all the same size (the face's
  annotation is one drawing); parts that never overlap on a face
  (`layout.EXCLUSIVE_PAIRS`) must not share more than a border seam.

  Args:
    root: dataset root, to name the expected files when none exist.
    idx: the photo's {idx}.
    part_paths: part name -> mask path, as from `layout.list_mask_paths`.
    image_shape: (H, W) of the photo the masks annotate.
    out_shape: (H, W) of the result; masks are resized nearest-neighbour.

  Raises:
    BadFile: no mask at all, a mask that is unreadable or misaligned, of
      another size than the face's other masks, or overlapping its pair.
  """
  if not part_paths:
    raise BadFile(layout.mask_path(root, idx, "*"),
                  "missing: no part mask for this photo")
  raw = {}
  for part in layout.PARTS:  # A fixed order: errors name the same files.
    if part in part_paths:
      raw[part] = read_image(part_paths[part], "mask")
      check_aspect(part_paths[part], raw[part].shape, image_shape)
  _check_parts_agree(idx, raw, part_paths)
  masks = {}
  for part, mask in raw.items():
    if mask.shape != tuple(out_shape):
      mask = cv2.resize(mask, out_shape[::-1], interpolation=cv2.INTER_NEAREST)
    masks[part] = mask > 127
  return layout.compose_label_map(masks, out_shape)


def _check_parts_agree(idx: int, masks: Mapping[str, np.ndarray],
                       part_paths: Mapping[str, str]) -> None:
  """Raises BadFile, naming face `idx` and both files, on a mask of another
  size than most of the face's, or a `layout.inconsistent_overlap`."""
  shapes = [mask.shape for mask in masks.values()]
  common = max(shapes, key=shapes.count)
  odd = [part for part, mask in masks.items() if mask.shape != common]
  if odd:
    other = next(part for part in masks if part not in odd)
    height, width = masks[odd[0]].shape
    raise BadFile(part_paths[odd[0]], (
        f"face {idx}: is {width}x{height} but {part_paths[other]} (and the "
        f"face's other parts) is {common[1]}x{common[0]}; one face's parts "
        "are one drawing: save this part at that size too"))
  found = layout.inconsistent_overlap({part: mask > 127
                                       for part, mask in masks.items()})
  if found:
    part, pair, shared, smaller = found
    raise BadFile(part_paths[part], (
        f"face {idx}: shares {shared} pixels with {part_paths[pair]}, "
        f"{shared / smaller:.0%} of the smaller part (a border seam stays "
        f"under {layout.MAX_EXCLUSIVE_OVERLAP:.0%}); {part} and {pair} never "
        "overlap on a face, so one file is mislabelled (an l_eye file "
        "holding both eyes, say): fix or remove it"))


def check_aspect(path: str, shape: Tuple[int, ...],
                 image_shape: Tuple[int, ...]) -> None:
  """Raises BadFile unless `shape` can be resized onto the photo's grid."""
  if shape[0] * image_shape[1] != shape[1] * image_shape[0]:
    raise BadFile(path, f"is {shape[1]}x{shape[0]} but the photo is "
                  f"{image_shape[1]}x{image_shape[0]}; expected the same "
                  "aspect ratio")


def log_bad_once(error: BadFile) -> None:
  if error.path not in _LOGGED:
    _LOGGED.add(error.path)
    logging.warning("Skipping bad file %s: %s", error.path, error.reason)


def encode_png(image: np.ndarray) -> bytes:
  """uint8 [H, W] gray or [H, W, 3] RGB -> PNG bytes (lossless)."""
  if image.ndim == 3:
    image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
  ok, data = cv2.imencode(".png", image)
  if not ok:
    raise OSError(f"OpenCV could not encode a PNG of shape {image.shape}")
  return data.tobytes()


def write_png(path: str, image: np.ndarray) -> None:
  """Writes uint8 [H, W] gray or [H, W, 3] RGB losslessly."""
  with open(path, "wb") as f:
    f.write(encode_png(image))


def write_jpeg(path: str, image_rgb: np.ndarray, quality: int = 95) -> None:
  ok, data = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                          [cv2.IMWRITE_JPEG_QUALITY, quality])
  _write_bytes(path, ok, data)


def _write_bytes(path: str, ok: bool, data: np.ndarray) -> None:
  if not ok:
    raise OSError(f"OpenCV could not encode {path}")
  with open(path, "wb") as f:
    f.write(data.tobytes())


def parallel_map(fn: Callable[[_T], _R], items: Iterable[_T],
                 workers: int) -> List[_R]:
  """`[fn(x) for x in items]` on `workers` threads, in order.

  Threads, not processes: OpenCV releases the GIL while it decodes, encodes,
  filters and draws, which is where the time goes, and threads need neither
  pickling nor a fresh interpreter that would re-import TensorFlow.
  """
  if workers <= 1:
    return [fn(x) for x in items]
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    return list(pool.map(fn, items))
