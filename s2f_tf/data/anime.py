"""The synthetic people drawn as anime, and the unpaired selfie->anime set.

`render_anime` draws the person and shot of `synth.render_face(seed,
identity, idx)` in an anime style: bigger eyes with a large iris and a
highlight, a smaller nose and mouth, hair without a parting, flat colours (no
light, exposure, blur or noise) and dark outlines around every region. So the
true anime rendering of every synthetic photo is known, and vice versa.

`write_unpaired_set` writes them in the U-GAT-IT layout (`domains`): A =
photos, B = anime, every person in exactly one of trainA, trainB, testA and
testB (training never sees a person in both domains, and test people are
new), with the other-domain rendering of every test image under `hidden/`.
As in `synth`, every file depends only on the seed and its own index.
"""

import json
import os
import time
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np

from s2f_tf.data import decode
from s2f_tf.data import domains
from s2f_tf.data import layout
from s2f_tf.data import synth

_C = layout.CLASS_ID
# Drawn at 4x and area-averaged down: flat regions keep one colour, and
# edges and outlines are anti-aliased as in drawn anime.
_SUPERSAMPLE = 4
ANIME = synth.Look(eye_w=1.45, eye_h=2.4, brow_lift=0.03, nose=0.4,
                   mouth=0.6, parting=0.0)
_INK = np.float32([38, 28, 34])
_PALE = np.float32([255, 232, 215])
# Regions outlined against each other; classes in one group share no line
# (brows and the nose shade sit inside the face, lips and mouth are one).
_GROUPS = (("background",), ("skin", "nose", "l_brow", "r_brow", "eye_g"),
           ("l_ear", "r_ear"), ("l_eye", "r_eye"), ("mouth", "u_lip", "l_lip"),
           ("hair",), ("neck",), ("cloth",), ("hat",), ("ear_r", "neck_l"))
_GROUP = np.zeros(layout.NUM_CLASSES, np.uint8)
for _g, _names in enumerate(_GROUPS):
  _GROUP[[_C[n] for n in _names]] = _g
# Details drawn in a second map before the pose: iris, pupil and highlight
# inside the eyes, and the frames of glasses.
_IRIS, _PUPIL, _SHINE, _FRAME = 1, 2, 3, 4


def _palette(s: synth.Style) -> np.ndarray:
  """Flat anime colours per class: paler skin, more saturated hair."""
  skin = 0.7 * s.skin + 0.3 * _PALE
  hair = np.clip(s.hair.mean() + 1.3 * (s.hair - s.hair.mean()) + 10, 0, 255)
  palette = np.zeros((layout.NUM_CLASSES, 3), np.float32)
  palette[0] = s.background
  palette[[_C[p] for p in ("skin", "l_ear", "r_ear", "eye_g")]] = skin
  palette[_C["nose"]] = skin * 0.85
  palette[_C["neck"]] = skin * 0.88
  palette[[_C["l_eye"], _C["r_eye"]]] = (252, 252, 250)
  palette[[_C["l_brow"], _C["r_brow"]]] = hair * 0.45
  palette[_C["hair"]] = hair
  palette[[_C["u_lip"], _C["l_lip"]]] = 0.5 * skin + np.float32([110, 50, 55])
  palette[_C["mouth"]] = (120, 40, 50)
  palette[[_C["cloth"], _C["hat"]]] = (s.cloth, 255 - s.cloth)
  palette[[_C["ear_r"], _C["neck_l"]]] = s.accessory
  return palette


def _details(c: synth.Canvas, s: synth.Style) -> np.ndarray:
  """Ids of the eye details and glasses frames, before the pose."""
  details = np.zeros_like(c.labels)
  r = 0.6 * s.eye_w * ANIME.eye_w
  for side in (1, -1):
    x, y = 0.5 + side * s.eye_gap, synth.FACE_Y - 0.02
    if s.glasses:
      c.ellipse(details, _FRAME, (x, y), (s.eye_w * ANIME.eye_w + 0.022, 0.04),
                thickness=0.012)
    c.ellipse(details, _IRIS, (x, y), (r, r))
    c.ellipse(details, _PUPIL, (x, y), (0.5 * r, 0.5 * r))
    c.ellipse(details, _SHINE, (x - 0.35 * r, y - 0.35 * r),
              (0.3 * r, 0.3 * r))
  return details


def _outline(labels: np.ndarray, width: int) -> np.ndarray:
  """bool [H, W]: pixels within width/2 of another region group."""
  groups = _GROUP[labels]
  kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                     (width // 2 * 2 + 1,) * 2)
  return cv2.dilate(groups, kernel) != cv2.erode(groups, kernel)


def render_anime(seed: int, identity: int, idx: int,
                 size: int) -> Tuple[np.ndarray, np.ndarray]:
  """The anime twin of `synth.render_face(seed, identity, idx, size)`.

  Returns:
    (uint8 RGB [S, S, 3], its label map uint8 [S, S] in CelebAMask-HQ
    classes): the same person, pose and expression as the photo.
  """
  s = synth.person_style(seed, identity)
  shot, _ = synth.draw_shot(seed, idx)
  c = synth.Canvas(size * _SUPERSAMPLE)
  synth.draw_person(c, s, shot, ANIME)
  details = _details(c, s)
  # Pose first, paint after: ids warp exactly, so colours stay flat and the
  # outline keeps one width whatever the rotation and scale.
  centred = (_SUPERSAMPLE - 1) / 2
  labels = synth.warp(c.labels, shot, cv2.INTER_NEAREST, centred)
  details = synth.warp(details, shot, cv2.INTER_NEAREST, centred)
  image = _palette(s)[labels]
  eyes = np.isin(labels, (_C["l_eye"], _C["r_eye"]))
  iris = s.iris * 1.15
  for detail, colour in ((_IRIS, iris), (_PUPIL, iris * 0.3),
                         (_SHINE, (255, 255, 255))):
    image[eyes & (details == detail)] = colour
  image[details == _FRAME] = _INK
  width = int(round(_SUPERSAMPLE * max(1.0, size / 96)))
  image[_outline(labels, width)] = _INK
  image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
  anime = np.clip(image + 0.5, 0, 255).astype(np.uint8)
  # Half a fine pixel more, so that picking one fine pixel per block reads
  # the label at the block's centre.
  labels = synth.warp(c.labels, shot, cv2.INTER_NEAREST, _SUPERSAMPLE / 2)
  start = _SUPERSAMPLE // 2
  return anime, labels[start::_SUPERSAMPLE, start::_SUPERSAMPLE]


def split_people(identities: int, test_fraction: float,
                 seed: int) -> Dict[str, List[int]]:
  """People 1..identities dealt into four disjoint splits, seeded.

  Test people (`test_fraction` of all, at least 2) are halved into testA and
  testB, the rest into trainA and trainB.

  Raises:
    ValueError: the fraction is outside (0, 1) or leaves a split empty.
  """
  if not 0.0 < test_fraction < 1.0:
    raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
  n_test = max(2, int(round(test_fraction * identities)))
  if identities - n_test < 2:
    raise ValueError(
        f"{identities} identities with test_fraction={test_fraction} leave "
        f"{identities - n_test} for trainA and trainB; need at least 4 "
        "identities and 2 for training")
  order = np.random.default_rng([seed, 2]).permutation(identities) + 1
  test, train = order[:n_test], order[n_test:]
  parts = dict(trainA=train[0::2], trainB=train[1::2], testA=test[0::2],
               testB=test[1::2])
  return {split: sorted(int(p) for p in parts[split])
          for split in domains.SPLITS}


_HIDDEN = dict(domains.DIRECTIONS.values())  # Test split -> truth folder.


def _file_name(identity: int, k: int) -> str:
  return f"{identity:05d}_{k:03d}.png"


def _write_image(out_dir: str, split: str, identity: int, k: int,
                 per_identity: int, size: int, seed: int) -> None:
  """One image of `split`; for a test split also its hidden truth + labels.

  PNG throughout: the anime's flat colours and the hidden truths stay exact,
  and a test image and its truth share one file name.
  """
  idx = (identity - 1) * per_identity + k
  render = {"A": synth.render_face, "B": render_anime}
  domain = split[-1]
  name = _file_name(identity, k)
  image, _ = render[domain](seed, identity, idx, size)
  decode.write_png(os.path.join(out_dir, split, name), image)
  if split in _HIDDEN:
    truth, labels = render["B" if domain == "A" else "A"](seed, identity, idx,
                                                         size)
    hidden = os.path.join(out_dir, domains.HIDDEN_DIR)
    decode.write_png(os.path.join(hidden, _HIDDEN[split], name), truth)
    decode.write_png(os.path.join(hidden, domains.LABEL_DIR, _HIDDEN[split],
                                  name), labels)


_README = """# Synthetic unpaired photo -> anime set (s2f-data synth --style=anime)

A = synthetic photos, B = the same generator's people drawn as anime.
{identities} people, {per_identity} images each, {size} px, seed {seed}.
Every person is in exactly one of trainA ({trainA} people), trainB
({trainB}), testA ({testA}) and testB ({testB}): training never sees a
person in both domains, and test people are new.

hidden/testA_in_B/NAME is the true anime rendering of testA/NAME (same
person, pose and expression); hidden/testB_in_A/NAME the true photo of
testB/NAME; hidden/labels/*/NAME their class ids (CelebAMask-HQ order).
Training must never read hidden/. unpaired.json maps every file to its
person.
"""


def write_unpaired_set(out_dir: str, identities: int, per_identity: int,
                       size: int, seed: int, test_fraction: float = 0.2,
                       workers: int = 2) -> Dict[str, Any]:
  """Writes the synthetic selfie->anime set under `out_dir`.

  Person p's images k = 0 .. per_identity - 1 are shots idx = (p - 1) *
  per_identity + k, named `{p:05d}_{k:03d}.png`, as in `synth`.

  Returns:
    A summary: root, images per split, identities, per_identity, size,
    seed, test_fraction and seconds taken.

  Raises:
    ValueError: a count, size or fraction out of range.
    FileExistsError: `out_dir` already holds files.
  """
  if identities < 4 or per_identity < 1 or size < 16:
    raise ValueError(f"need identities >= 4, per_identity >= 1 and size >= "
                     f"16, got {identities}, {per_identity}, {size}")
  people = split_people(identities, test_fraction, seed)
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    raise FileExistsError(f"{out_dir} already holds files; pick a new or "
                          "empty directory for the unpaired set")
  start = time.perf_counter()
  for folder in domains.SPLITS + tuple(
      os.path.join(domains.HIDDEN_DIR, sub, hidden)
      for hidden in _HIDDEN.values() for sub in ("", domains.LABEL_DIR)):
    os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
  jobs = [(split, p, k) for split in domains.SPLITS for p in people[split]
          for k in range(per_identity)]
  decode.parallel_map(
      lambda job: _write_image(out_dir, *job, per_identity, size, seed), jobs,
      workers)
  counts = {split: len(people[split]) * per_identity
            for split in domains.SPLITS}
  settings = dict(identities=identities, per_identity=per_identity,
                  size=size, seed=seed, test_fraction=test_fraction)
  with open(os.path.join(out_dir, domains.METADATA_FILE), "w") as f:
    json.dump(dict(
        source="s2f-data synth --style=anime", domains=dict(
            A="synthetic photo", B="synthetic anime"), settings=settings,
        people=people, identities={
            split: {_file_name(p, k): p for p in people[split]
                    for k in range(per_identity)}
            for split in domains.SPLITS}), f, indent=1, sort_keys=True)
  with open(os.path.join(out_dir, "README.md"), "w") as f:
    f.write(_README.format(**settings, **{
        split: len(people[split]) for split in domains.SPLITS}))
  return dict(root=out_dir, images=counts, **settings,
              seconds=time.perf_counter() - start)
