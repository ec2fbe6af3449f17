"""The CelebAMask-HQ on-disk layout: file names, classes and identity files.

CelebAMask-HQ (Lee et al. 2020, "MaskGAN", arXiv:1907.11922) stores, under one
root::

  CelebA-HQ-img/{idx}.jpg
  CelebAMask-HQ-mask-anno/{idx // 2000}/{idx:05d}_{part}.png   (one per part)
  CelebA-HQ-to-CelebA-mapping.txt                              (idx -> CelebA)

Identities come from CelebA's `identity_CelebA.txt` (Liu et al. 2015,
arXiv:1411.7766), which the user supplies, joined through the mapping. The
synthetic set (`synth.py`) writes every one of these files itself, and
`sketch.py` adds `sketch/{idx}.png`, so one reader serves both.
"""

import os
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np

IMAGE_DIR = "CelebA-HQ-img"
MASK_DIR = "CelebAMask-HQ-mask-anno"
SKETCH_DIR = "sketch"
MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
IDENTITY_FILE = "identity_CelebA.txt"
# Records which extractor wrote `sketch/`, so a different method is noticed.
SKETCH_METHOD_FILE = "method.txt"
MASKS_PER_FOLDER = 2000

PARTS = ("skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow",
         "l_ear", "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r",
         "neck_l", "neck", "cloth")
# Class id = position; 0 is background. Never reorder: checkpoints and
# exported models depend on these ids.
CLASS_NAMES = ("background",) + PARTS
NUM_CLASSES = len(CLASS_NAMES)
CLASS_ID = {name: i for i, name in enumerate(CLASS_NAMES)}

# Part masks overlap (hair over skin, glasses over eyes, ...). A pixel takes
# the class of the LAST part in this order that covers it, which is what the
# dataset authors' own `g_mask.py` does, so our label maps match the published
# CelebAMask-HQ-mask images. Example: hair beats skin, cloth beats neck.
OVERLAP_ORDER = PARTS

# Parts that never share a pixel on a real face: the mirrored pairs and the
# two lips. A pair's masks do overlap a little where a hand-drawn border
# crosses its neighbour's (anti-aliasing alone cannot: a pixel split
# between two parts has coverage a + b <= 1, so at most one passes the
# > 127 threshold), a seam a pixel or two wide; even the thinnest of these
# parts, a closed mouth's lip, is about 8 px thick at CelebAMask-HQ's 512
# px, so such a seam is at most a quarter of the smaller part. A file that
# also holds its pair (an l_eye file with both eyes) covers all of it. Half
# of the smaller part separates the two: past it the face is mislabelled.
EXCLUSIVE_PAIRS = (("l_eye", "r_eye"), ("l_brow", "r_brow"),
                   ("l_ear", "r_ear"), ("u_lip", "l_lip"))
MAX_EXCLUSIVE_OVERLAP = 0.5  # Of the smaller part's pixels.

# Class id seen after a horizontal flip: the person's left eye becomes the
# right one. Used as `FLIP_CLASS[label_map]`.
FLIP_CLASS = np.arange(NUM_CLASSES, dtype=np.uint8)
for _left, _right in (("l_eye", "r_eye"), ("l_brow", "r_brow"),
                      ("l_ear", "r_ear")):
  FLIP_CLASS[CLASS_ID[_left]] = CLASS_ID[_right]
  FLIP_CLASS[CLASS_ID[_right]] = CLASS_ID[_left]

EXPECTED_LAYOUT = (
    f"{IMAGE_DIR}/{{idx}}.jpg, "
    f"{MASK_DIR}/{{idx//{MASKS_PER_FOLDER}}}/{{idx:05d}}_{{part}}.png, "
    f"{MAPPING_FILE} and {IDENTITY_FILE}")


def image_path(root: str, idx: int) -> str:
  return os.path.join(root, IMAGE_DIR, f"{idx}.jpg")


def mask_path(root: str, idx: int, part: str) -> str:
  return os.path.join(root, MASK_DIR, str(idx // MASKS_PER_FOLDER),
                      f"{idx:05d}_{part}.png")


def sketch_path(root: str, idx: int) -> str:
  return os.path.join(root, SKETCH_DIR, f"{idx}.png")


def mapping_path(root: str) -> str:
  return os.path.join(root, MAPPING_FILE)


def identity_path(root: str, identity_file: str = "") -> str:
  """The identity file: `identity_file` if given, else the one in `root`."""
  return identity_file or os.path.join(root, IDENTITY_FILE)


def parse_mask_name(name: str) -> Tuple[int, str]:
  """'00012_l_eye.png' -> (12, 'l_eye'); (-1, '') for any other name."""
  stem, ext = os.path.splitext(name)
  idx, _, part = stem.partition("_")
  if ext != ".png" or not idx.isdigit() or part not in PARTS:
    return -1, ""
  return int(idx), part


def list_image_ids(root: str) -> List[int]:
  """Sorted {idx} of every `CelebA-HQ-img/{idx}.jpg`; other names ignored."""
  names = os.listdir(os.path.join(root, IMAGE_DIR))
  return sorted(int(n[:-4]) for n in names
                if n.endswith(".jpg") and n[:-4].isdigit())


def list_mask_paths(root: str) -> Dict[int, Dict[str, str]]:
  """idx -> {part: path} for every part mask on disk.

  One directory listing per mask folder instead of 18 existence checks per
  image: 30,000 CelebAMask-HQ images would otherwise cost 540,000 stats.
  """
  found: Dict[int, Dict[str, str]] = {}
  base = os.path.join(root, MASK_DIR)
  if not os.path.isdir(base):
    return found
  for folder in sorted(os.listdir(base)):
    folder_path = os.path.join(base, folder)
    if not os.path.isdir(folder_path):
      continue
    for name in os.listdir(folder_path):
      idx, part = parse_mask_name(name)
      if part:
        found.setdefault(idx, {})[part] = os.path.join(folder_path, name)
  return found


def compose_label_map(part_masks: Mapping[str, np.ndarray],
                      shape: Tuple[int, int]) -> np.ndarray:
  """Resolves overlapping boolean part masks into one uint8 class-id map.

  Args:
    part_masks: part name -> bool [H, W]; absent parts are simply missing, as
      in CelebAMask-HQ where e.g. most people have no `hat` file.
    shape: (H, W) of the result, needed when `part_masks` is empty.

  Returns:
    uint8 [H, W] with values in [0, NUM_CLASSES), resolved in OVERLAP_ORDER.
  """
  labels = np.zeros(shape, np.uint8)
  for part in OVERLAP_ORDER:
    if part in part_masks:
      labels[part_masks[part]] = CLASS_ID[part]
  return labels


def inconsistent_overlap(part_masks: Mapping[str, np.ndarray]
                         ) -> Optional[Tuple[str, str, int, int]]:
  """The first of EXCLUSIVE_PAIRS whose bool masks (same shape) share more
  than MAX_EXCLUSIVE_OVERLAP of the smaller part's pixels, as (part, its
  pair, shared pixels, the smaller part's pixels); None when all agree."""
  for a, b in EXCLUSIVE_PAIRS:
    if a in part_masks and b in part_masks:
      shared = int(np.count_nonzero(part_masks[a] & part_masks[b]))
      smaller = int(min(np.count_nonzero(part_masks[a]),
                        np.count_nonzero(part_masks[b])))
      if shared > MAX_EXCLUSIVE_OVERLAP * smaller:
        return a, b, shared, smaller
  return None


def celeba_file(orig_idx: int) -> str:
  """CelebA names its files by 1-based position: 0 -> '000001.jpg'."""
  return f"{orig_idx + 1:06d}.jpg"


def write_mapping(path: str, image_ids: Iterable[int]) -> None:
  """Writes a CelebA-HQ -> CelebA mapping where idx i is CelebA file i+1."""
  with open(path, "w") as f:
    f.write("idx         orig_idx    orig_file\n")
    for idx in image_ids:
      f.write(f"{idx:<11d} {idx:<11d} {celeba_file(idx)}\n")


def read_mapping(path: str) -> Dict[int, str]:
  """CelebA-HQ idx -> CelebA file name, from the mapping file's columns."""
  mapping = {}
  with open(path) as f:
    for line_no, line in enumerate(f, 1):
      cols = line.split()
      if not cols or cols[0] == "idx":
        continue
      if len(cols) != 3 or not cols[0].isdigit():
        raise ValueError(f"{path}:{line_no}: expected 'idx orig_idx "
                         f"orig_file', got {line.strip()!r}")
      mapping[int(cols[0])] = cols[2]
  return mapping


def write_identities(path: str, identities: Mapping[str, int]) -> None:
  """Writes CelebA's format: one '{file} {identity}' line per photo."""
  with open(path, "w") as f:
    for name, identity in sorted(identities.items()):
      f.write(f"{name} {identity}\n")


def read_identities(path: str) -> Dict[str, int]:
  """CelebA file name -> identity id, from `identity_CelebA.txt`."""
  identities = {}
  with open(path) as f:
    for line_no, line in enumerate(f, 1):
      cols = line.split()
      if not cols:
        continue
      if len(cols) != 2 or not cols[1].lstrip("-").isdigit():
        raise ValueError(f"{path}:{line_no}: expected '{{file}} {{identity}}'"
                         f" as in CelebA's identity_CelebA.txt, got "
                         f"{line.strip()!r}")
      identities[cols[0]] = int(cols[1])
  return identities
