"""A synthetic few-shot face set, written in the CelebAMask-HQ layout.

Faces are drawn with OpenCV primitives: a label map first (the parsing
annotation), then a photo painted from it, so masks and photo agree exactly.
Identity-level style (skin tone, hair colour and shape, eye, brow and lip
colour, background, clothes, accessories) comes from an RNG seeded by
(seed, identity); per-image variation (position, scale, small rotation, mouth
open or closed, eye openness, lighting, noise) from one seeded by (seed, idx).
Every file therefore depends only on the seed and its own index, never on the
number of workers or the order they finish in.

The person (`Style`), the shot (`Shot`) and the geometry (`draw_person` on a
`Canvas`, `warp`) are public because `anime` draws the same people in the
same shots in another style: that shared model is what makes the true anime
rendering of every synthetic photo known.
"""

import dataclasses
import os
import time
from typing import Any, Dict, Tuple

import cv2
import numpy as np

from s2f_tf.data import decode
from s2f_tf.data import layout
from s2f_tf.data import sketch

_C = layout.CLASS_ID
_SKIN_LIGHT = np.array([236, 200, 178], np.float32)
_SKIN_DARK = np.array([92, 60, 44], np.float32)
_HAIR = ((28, 22, 20), (72, 46, 30), (125, 84, 52), (205, 170, 110),
         (155, 68, 36), (175, 175, 172))
_IRIS = ((92, 58, 36), (60, 110, 160), (70, 120, 70), (110, 115, 120))
_METAL = ((212, 175, 55), (200, 200, 205))
_HAIR_STYLES = ("short", "long", "bob", "bun", "bald")
_SHIFT = 4  # Fractional bits of OpenCV drawing coordinates.
FACE_Y = 0.47  # Face centre height in image units, before the pose.


@dataclasses.dataclass(frozen=True)
class Style:
  """What stays the same across one person's photos (lengths in image units)."""
  skin: np.ndarray
  hair: np.ndarray
  iris: np.ndarray
  lips: np.ndarray
  background: np.ndarray
  cloth: np.ndarray
  accessory: np.ndarray
  hair_style: str
  face_w: float
  face_h: float
  eye_gap: float
  eye_w: float
  brow_tilt: float
  mouth_w: float
  nose_len: float
  parting: float
  glasses: bool
  hat: bool
  earrings: bool
  necklace: bool


def person_style(seed: int, identity: int) -> Style:
  """The identity-level style of person `identity` (1-based)."""
  rng = np.random.default_rng([seed, 0, identity])
  jitter = lambda: rng.uniform(-10, 10, 3).astype(np.float32)
  skin = _SKIN_LIGHT + rng.uniform() * (_SKIN_DARK - _SKIN_LIGHT) + jitter()
  return Style(
      skin=skin,
      hair=np.float32(_HAIR[rng.integers(len(_HAIR))]) + jitter(),
      iris=np.float32(_IRIS[rng.integers(len(_IRIS))]) + jitter(),
      lips=0.45 * skin + 0.55 * np.float32([185, 75, 85]) + jitter(),
      background=rng.uniform(40, 230, 3).astype(np.float32),
      cloth=rng.uniform(20, 235, 3).astype(np.float32),
      accessory=np.float32(_METAL[rng.integers(len(_METAL))]),
      hair_style=_HAIR_STYLES[rng.integers(len(_HAIR_STYLES))],
      face_w=rng.uniform(0.19, 0.24), face_h=rng.uniform(0.25, 0.30),
      eye_gap=rng.uniform(0.08, 0.10), eye_w=rng.uniform(0.032, 0.042),
      brow_tilt=rng.uniform(-12, 12), mouth_w=rng.uniform(0.055, 0.085),
      nose_len=rng.uniform(0.07, 0.10), parting=rng.uniform(-0.06, 0.06),
      glasses=rng.uniform() < 0.2, hat=rng.uniform() < 0.12,
      earrings=rng.uniform() < 0.2, necklace=rng.uniform() < 0.15)


class Canvas:
  """Draws in image units ([0, 1] across) with sub-pixel precision."""

  def __init__(self, size: int):
    self.size = size
    self.labels = np.zeros((size, size), np.uint8)

  def _p(self, x: float, y: float) -> Tuple[int, int]:
    scale = self.size * (1 << _SHIFT)
    return int(round(x * scale)), int(round(y * scale))

  def ellipse(self, target, value, center, axes, angle=0.0, arc=(0, 360),
              thickness=-1.0):
    px = max(1, int(round(thickness * self.size))) if thickness > 0 else -1
    cv2.ellipse(target, self._p(*center), self._p(*axes), angle, arc[0],
                arc[1], value, px, cv2.LINE_8, _SHIFT)

  def polygon(self, target, value, points):
    cv2.fillPoly(target, [np.array([self._p(*p) for p in points])], value,
                 cv2.LINE_8, _SHIFT)


def _draw_body(c: Canvas, s: Style) -> None:
  """Back to front: back hair, neck, clothes, necklace, ears, face."""
  lab = c.labels
  if s.hair_style == "long":
    c.ellipse(lab, _C["hair"], (0.5, FACE_Y + 0.08), (s.face_w + 0.07, 0.36))
  if s.hair_style == "bob":
    c.ellipse(lab, _C["hair"], (0.5, FACE_Y + 0.02),
              (s.face_w + 0.06, s.face_h + 0.02))
  neck_w = s.face_w * 0.45
  c.polygon(lab, _C["neck"], [(0.5 - neck_w, FACE_Y), (0.5 + neck_w, FACE_Y),
                              (0.5 + neck_w, 0.95), (0.5 - neck_w, 0.95)])
  c.ellipse(lab, _C["cloth"], (0.5, 1.05), (0.42, 0.22))
  if s.necklace:
    c.ellipse(lab, _C["neck_l"], (0.5, 0.80), (neck_w, 0.05), arc=(0, 180),
              thickness=0.015)
  for side, part in ((1, "l_ear"), (-1, "r_ear")):
    c.ellipse(lab, _C[part], (0.5 + side * s.face_w, FACE_Y + 0.01),
              (0.035, 0.06))
    if s.earrings:
      c.ellipse(lab, _C["ear_r"], (0.5 + side * s.face_w, FACE_Y + 0.075),
                (0.014, 0.014))
  c.ellipse(lab, _C["skin"], (0.5, FACE_Y), (s.face_w, s.face_h))


@dataclasses.dataclass(frozen=True)
class Shot:
  """What changes from one picture of a person to the next."""
  eye_open: float
  mouth_open: float
  light_x: float  # Where the light comes from (photos only).
  angle: float  # Head rotation in degrees.
  scale: float
  shift: np.ndarray  # (2,) in image units.
  gain: float  # Exposure (photos only).


def draw_shot(seed: int, idx: int) -> Tuple[Shot, np.random.Generator]:
  """Shot `idx`, and its generator, whose next draws are the photo's noise."""
  rng = np.random.default_rng([seed, 1, idx])
  eye_open = rng.uniform(0.35, 1.0) if rng.uniform() > 0.1 else 0.1
  mouth_open = 0.0 if rng.uniform() < 0.5 else rng.uniform(0.3, 1.0)
  # Keyword arguments are evaluated in order: the draws keep their order.
  return Shot(eye_open=eye_open, mouth_open=mouth_open,
              light_x=rng.uniform(-0.05, 0.05), angle=rng.uniform(-10, 10),
              scale=rng.uniform(0.9, 1.1), shift=rng.uniform(-0.06, 0.06, 2),
              gain=rng.uniform(0.9, 1.1)), rng


@dataclasses.dataclass(frozen=True)
class Look:
  """Feature proportions relative to a photo's (all 1 and 0 for a photo)."""
  eye_w: float = 1.0
  eye_h: float = 1.0
  brow_lift: float = 0.0  # Image units.
  nose: float = 1.0
  mouth: float = 1.0
  parting: float = 1.0


PHOTO = Look()


def _draw_features(c: Canvas, s: Style, shot: Shot, look: Look) -> None:
  """Nose, glasses, eyes, brows and mouth; the person's left is image right."""
  lab, eye_y, eye_w = c.labels, FACE_Y - 0.02, s.eye_w * look.eye_w
  tip, half = eye_y + s.nose_len, 0.03 * look.nose
  c.polygon(lab, _C["nose"], [(0.5, tip - s.nose_len * look.nose),
                              (0.5 - half, tip), (0.5 + half, tip)])
  for side, eye, brow in ((1, "l_eye", "l_brow"), (-1, "r_eye", "r_brow")):
    x = 0.5 + side * s.eye_gap
    if s.glasses:
      c.ellipse(lab, _C["eye_g"], (x, eye_y), (eye_w + 0.022, 0.04))
    c.ellipse(lab, _C[eye], (x, eye_y),
              (eye_w, max(0.02 * look.eye_h * shot.eye_open, 0.004)))
    c.ellipse(lab, _C[brow], (x, eye_y + 0.02 - look.brow_lift),
              (eye_w * 1.3, 0.06), angle=side * s.brow_tilt, arc=(220, 320),
              thickness=0.018)
  mouth_w = s.mouth_w * look.mouth
  mouth_y = FACE_Y + 0.55 * s.face_h
  gap = 0.035 * look.mouth * shot.mouth_open
  if gap > 0:
    c.ellipse(lab, _C["mouth"], (0.5, mouth_y), (mouth_w * 0.85, gap / 2))
  c.ellipse(lab, _C["u_lip"], (0.5, mouth_y - gap / 2),
            (mouth_w, 0.016 * look.mouth), arc=(180, 360))
  c.ellipse(lab, _C["l_lip"], (0.5, mouth_y + gap / 2),
            (mouth_w * 0.9, 0.02 * look.mouth), arc=(0, 180))


def _draw_top(c: Canvas, s: Style, look: Look) -> None:
  """Front hair (a cap minus a forehead with a side parting), then a hat."""
  if s.hair_style != "bald":
    cap = np.zeros_like(c.labels)
    c.ellipse(cap, 1, (0.5, FACE_Y - 0.03), (s.face_w + 0.02, s.face_h + 0.02))
    c.ellipse(cap, 0, (0.5 + s.parting * look.parting, FACE_Y - 0.04),
              (s.face_w * 0.85, s.face_h * 0.62))
    cap[int((FACE_Y - 0.02) * c.size):] = 0
    if s.hair_style == "bun":
      c.ellipse(cap, 1, (0.5, FACE_Y - s.face_h - 0.04), (0.07, 0.06))
    c.labels[cap > 0] = _C["hair"]
  if s.hat:
    top = FACE_Y - 0.6 * s.face_h
    c.ellipse(c.labels, _C["hat"], (0.5, top),
              (s.face_w + 0.03, 0.5 * s.face_h), arc=(180, 360))
    c.ellipse(c.labels, _C["hat"], (0.5, top), (s.face_w + 0.09, 0.03))


def draw_person(c: Canvas, s: Style, shot: Shot, look: Look = PHOTO) -> None:
  """Draws the person's label map on `c`, back to front, before the pose."""
  _draw_body(c, s)
  _draw_features(c, s, shot, look)
  _draw_top(c, s, look)


def warp(image: np.ndarray, shot: Shot, interpolation: int,
         offset: float = 0.0) -> np.ndarray:
  """Applies the shot's rotation, scale and shift (edges replicated).

  `offset` pixels are added to the shift: a canvas drawn at k times the size
  needs (k - 1) / 2 so that its pixel centres fall where the k x k blocks of
  the final image have theirs.
  """
  size = image.shape[0]
  pose = cv2.getRotationMatrix2D((size / 2, size / 2), shot.angle, shot.scale)
  pose[:, 2] += shot.shift * size + offset
  return cv2.warpAffine(image, pose, (size, size), flags=interpolation,
                        borderMode=cv2.BORDER_REPLICATE)


def _paint(c: Canvas, s: Style, shot: Shot) -> np.ndarray:
  """Colours the label map into a float RGB photo with shading and details."""
  palette = np.zeros((layout.NUM_CLASSES, 3), np.float32)
  palette[[_C[p] for p in ("skin", "nose", "l_ear", "r_ear", "neck")]] = (
      s.skin * np.float32([[1.0], [0.88], [0.92], [0.92], [0.82]]))
  palette[[_C["eye_g"]]] = s.skin * 0.85 + 12
  palette[[_C["l_eye"], _C["r_eye"]]] = (238, 236, 230)
  palette[[_C["l_brow"], _C["r_brow"], _C["hair"]]] = (
      s.hair * np.float32([[0.6], [0.6], [1.0]]))
  palette[[_C["u_lip"], _C["l_lip"]]] = s.lips * np.float32([[0.9], [1.0]])
  palette[_C["mouth"]] = (95, 30, 35)
  palette[[_C["cloth"], _C["hat"]]] = (s.cloth, 255 - s.cloth)
  palette[[_C["ear_r"], _C["neck_l"]]] = s.accessory
  ramp = np.linspace(1.12, 0.88, c.size, dtype=np.float32)[:, None, None]
  image = np.where((c.labels == 0)[:, :, None], s.background * ramp,
                   palette[c.labels])
  # A soft light from a per-photo direction gives XDoG some shading to draw.
  yy, xx = np.mgrid[0:c.size, 0:c.size].astype(np.float32) / c.size
  light = 1.08 - 0.6 * ((xx - 0.5 - shot.light_x) ** 2 +
                        (yy - FACE_Y + 0.05) ** 2)
  image *= light[:, :, None]
  eyes = np.isin(c.labels, (_C["l_eye"], _C["r_eye"]))
  for side in (1, -1):
    iris = np.zeros_like(c.labels)
    c.ellipse(iris, 1, (0.5 + side * s.eye_gap, FACE_Y - 0.02), (0.014, 0.014))
    image[eyes & (iris > 0)] = s.iris
  if s.glasses:
    for side in (1, -1):
      c.ellipse(image, (30.0, 30.0, 35.0), (0.5 + side * s.eye_gap,
                                            FACE_Y - 0.02),
                (s.eye_w + 0.022, 0.04), thickness=0.012)
  return image


def render_face(seed: int, identity: int, idx: int,
                size: int) -> Tuple[np.ndarray, np.ndarray]:
  """One synthetic photo (uint8 RGB [S, S, 3]) and its label map ([S, S])."""
  s = person_style(seed, identity)
  shot, rng = draw_shot(seed, idx)
  c = Canvas(size)
  draw_person(c, s, shot)
  image = cv2.GaussianBlur(_paint(c, s, shot), (0, 0), 0.6)
  image = warp(image, shot, cv2.INTER_LINEAR) * shot.gain
  image += rng.standard_normal(image.shape, dtype=np.float32) * 3.0
  photo = np.clip(image + 0.5, 0, 255).astype(np.uint8)
  return photo, warp(c.labels, shot, cv2.INTER_NEAREST)


def _write_face(out_dir: str, seed: int, identity: int, idx: int,
                size: int) -> None:
  photo, labels = render_face(seed, identity, idx, size)
  decode.write_jpeg(layout.image_path(out_dir, idx), photo)
  for part in layout.PARTS:
    mask = labels == _C[part]
    # CelebAMask-HQ has no file for an absent part; neither do we.
    if mask.any():
      decode.write_png(layout.mask_path(out_dir, idx, part),
                       mask.astype(np.uint8) * 255)


def write_synthetic_faces(out_dir: str, identities: int, per_identity: int,
                          size: int, seed: int, sketch_method: str = "xdog",
                          workers: int = 2) -> Dict[str, Any]:
  """Writes a synthetic few-shot face set under `out_dir`.

  Identity i (1-based, as in CelebA) owns images idx = (i-1) * per_identity
  ... i * per_identity - 1. Writes photos, part masks, the mapping, the
  identity file and `sketch/` (through `sketch.write_sketches`, the same
  extractor real photos go through).

  Returns:
    A summary: root, images, identities, per_identity, size, seed,
    sketch_method and seconds taken.

  Raises:
    ValueError: a count or size out of range, or an unknown sketch method.
    FileExistsError: `out_dir` already holds files.
  """
  if identities < 1 or per_identity < 1 or size < 16:
    raise ValueError(f"need identities >= 1, per_identity >= 1 and size >= "
                     f"16, got {identities}, {per_identity}, {size}")
  if sketch_method not in sketch.METHODS:
    raise ValueError(f"unknown sketch method {sketch_method!r}; expected one"
                     f" of {sketch.METHODS}")
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    raise FileExistsError(f"{out_dir} already holds files; pick a new or "
                          "empty directory for the synthetic set")
  start = time.perf_counter()
  count = identities * per_identity
  os.makedirs(os.path.join(out_dir, layout.IMAGE_DIR), exist_ok=True)
  for folder in range((count - 1) // layout.MASKS_PER_FOLDER + 1):
    os.makedirs(os.path.join(out_dir, layout.MASK_DIR, str(folder)),
                exist_ok=True)
  decode.parallel_map(
      lambda idx: _write_face(out_dir, seed, idx // per_identity + 1, idx,
                              size), range(count), workers)
  layout.write_mapping(layout.mapping_path(out_dir), range(count))
  layout.write_identities(
      layout.identity_path(out_dir),
      {layout.celeba_file(i): i // per_identity + 1 for i in range(count)})
  sketch.write_sketches(out_dir, sketch_method, workers)
  return dict(root=out_dir, images=count, identities=identities,
              per_identity=per_identity, size=size, seed=seed,
              sketch_method=sketch_method,
              seconds=time.perf_counter() - start)
