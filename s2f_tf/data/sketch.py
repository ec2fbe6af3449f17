"""Photo -> sketch extractors: XDoG, Canny, parsing-label edges.

Real and synthetic photos go through the same extractor, so what the model
sees at training time looks like what it will be given. Every extractor
returns uint8 [H, W] with white (255) paper and dark (0) lines.
"""

import os
from typing import Optional

from absl import logging
import cv2
import numpy as np

from s2f_tf import config
from s2f_tf.data import decode
from s2f_tf.data import layout

METHODS = config.SKETCH_METHODS
_NEEDS_LABELS = ("mask_edges", "mask_edges+xdog")


def xdog(gray: np.ndarray, sigma: float = 0.8, k: float = 1.6,
         gamma: float = 0.98, epsilon: float = -0.1,
         phi: float = 200.0) -> np.ndarray:
  """Extended difference of Gaussians line drawing.

  Winnemöller et al. 2012, "XDoG: An eXtended difference-of-Gaussians
  compendium including advanced image stylization", Computers & Graphics
  36(6), https://doi.org/10.1016/j.cag.2012.03.004, eqs. 5-6:
  D = G_sigma - gamma * G_{k sigma}; T = 1 if D >= epsilon else
  1 + tanh(phi * (D - epsilon)). The defaults are the ones sketch-to-image
  work commonly uses. Intensities are on the 0..255 scale: on 0..1 the DoG
  never falls below epsilon = -0.1 and the drawing would be blank.
  gamma < 1 leaves +0.02 * I in flat regions, so a line needs more contrast
  in bright areas than in dark ones, which keeps skin clean and hair drawn.
  """
  image = gray.astype(np.float32)
  dog = (cv2.GaussianBlur(image, (0, 0), sigma) -
         gamma * cv2.GaussianBlur(image, (0, 0), sigma * k))
  tone = np.where(dog >= epsilon, 1.0, 1.0 + np.tanh(phi * (dog - epsilon)))
  return np.clip(tone * 255.0 + 0.5, 0, 255).astype(np.uint8)


def canny(gray: np.ndarray, low: float = 100.0,
          high: float = 200.0) -> np.ndarray:
  """Canny edges (Canny 1986, doi:10.1109/TPAMI.1986.4767851), inverted.

  Histogram equalisation first makes the fixed hysteresis thresholds mean
  the same thing for dark and bright photos; a 1-pixel Gaussian suppresses
  JPEG noise that would otherwise become speckle.
  """
  smooth = cv2.GaussianBlur(cv2.equalizeHist(gray), (0, 0), 1.0)
  edges = cv2.Canny(smooth, low, high, L2gradient=True)
  return 255 - edges


def mask_edges(label_map: np.ndarray) -> np.ndarray:
  """Boundaries between parsing classes, the input of mask_edge2face.

  A pixel is a line if its 4-neighbourhood holds another class, so every
  boundary is drawn 2 pixels wide, one on each side.
  """
  cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
  gradient = cv2.morphologyEx(label_map, cv2.MORPH_GRADIENT, cross)
  return np.where(gradient > 0, 0, 255).astype(np.uint8)


def extract_sketch(image_rgb: np.ndarray, method: str,
                   label_map: Optional[np.ndarray] = None) -> np.ndarray:
  """Draws `image_rgb` (uint8 [H, W, 3]) as a uint8 [H, W] sketch.

  Args:
    image_rgb: the photo.
    method: one of METHODS; "mask_edges+xdog" overlays both drawings.
    label_map: uint8 class ids, required by the mask methods; resized
      nearest-neighbour to the photo if its size differs.

  Raises:
    ValueError: unknown method, or a mask method without a label map.
  """
  if method not in METHODS:
    raise ValueError(f"unknown sketch method {method!r}; expected one of "
                     f"{METHODS}")
  if method in _NEEDS_LABELS and label_map is None:
    raise ValueError(f"sketch method {method!r} needs the parsing label map")
  height, width = image_rgb.shape[:2]
  gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
  if method == "xdog":
    return xdog(gray)
  if method == "canny":
    return canny(gray)
  if label_map.shape != (height, width):
    label_map = cv2.resize(label_map, (width, height),
                           interpolation=cv2.INTER_NEAREST)
  lines = mask_edges(label_map)
  return lines if method == "mask_edges" else np.minimum(lines, xdog(gray))


def write_sketches(root: str, method: str, workers: int = 2) -> int:
  """Writes `sketch/{idx}.png` for every photo under `root`.

  Bad photos (or, for the mask methods, bad masks) are logged and get no
  sketch; the reader then skips them. `sketch/method.txt` says "incomplete"
  until every file is written, so the reader redoes an interrupted run
  instead of trusting it.

  Returns:
    The number of sketches written.
  """
  if method not in METHODS:
    raise ValueError(f"unknown sketch method {method!r}; expected one of "
                     f"{METHODS}")
  image_dir = os.path.join(root, layout.IMAGE_DIR)
  if not os.path.isdir(image_dir):
    raise FileNotFoundError(f"{image_dir} not found: expected photos as "
                            f"{layout.IMAGE_DIR}/{{idx}}.jpg under {root}")
  out_dir = os.path.join(root, layout.SKETCH_DIR)
  os.makedirs(out_dir, exist_ok=True)
  marker = os.path.join(out_dir, layout.SKETCH_METHOD_FILE)
  _write_text(marker, "incomplete")
  masks = layout.list_mask_paths(root) if method in _NEEDS_LABELS else {}

  def write_one(idx: int) -> bool:
    try:
      photo = decode.read_image(layout.image_path(root, idx), "rgb")
      labels = None
      if method in _NEEDS_LABELS:
        labels = decode.read_label_map(root, idx, masks.get(idx, {}),
                                       photo.shape[:2], photo.shape[:2])
    except decode.BadFile as e:
      decode.log_bad_once(e)
      return False
    decode.write_png(layout.sketch_path(root, idx),
                     extract_sketch(photo, method, labels))
    return True

  written = sum(decode.parallel_map(write_one, layout.list_image_ids(root),
                                    workers))
  _write_text(marker, method)
  logging.info("Wrote %d %s sketches to %s", written, method, out_dir)
  return written


def _write_text(path: str, text: str) -> None:
  with open(path, "w") as f:
    f.write(text + "\n")


def read_method(root: str) -> str:
  """The method that wrote `root/sketch`, or "" if unknown (user sketches)."""
  marker = os.path.join(root, layout.SKETCH_DIR, layout.SKETCH_METHOD_FILE)
  if not os.path.exists(marker):
    return ""
  with open(marker) as f:
    return f.read().strip()
