"""Load a CelebAMask-HQ-layout face set into numpy arrays and split it.

Everything is decoded once, validated, resized and cached under
`root/.s2f_cache/`, so training never touches a file again: a bad file costs
one log line at load time and can never stop an epoch.
"""

import dataclasses
import hashlib
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import cv2
import numpy as np

from s2f_tf import config as config_lib
from s2f_tf.data import decode
from s2f_tf.data import layout
from s2f_tf.data import sketch
from s2f_tf.data import synth

CACHE_DIR = ".s2f_cache"
# Bump when decoding changes, to drop stale caches (2: faces whose parts
# disagree in size or overlap their pair are skipped).
_CACHE_VERSION = 2


@dataclasses.dataclass(frozen=True, eq=False)
class FaceSet:
  """Decoded faces; row i of every array is the same photo."""
  photos: np.ndarray  # uint8 [N, S, S, 3], RGB.
  sketches: np.ndarray  # uint8 [N, S, S, 1], white paper, dark lines.
  masks: np.ndarray  # uint8 [N, S, S], class ids of layout.CLASS_NAMES.
  identities: np.ndarray  # int32 [N], CelebA identity ids.
  image_ids: np.ndarray  # int32 [N], the {idx} in the file names.
  skipped: Dict[str, str]  # Bad path -> why its sample was skipped.

  def __len__(self) -> int:
    return len(self.image_ids)


def load_face_set(root: str, image_size: int, sketch_method: str = "xdog",
                  identity_file: str = "", workers: int = 2) -> FaceSet:
  """Reads every usable sample under `root` at `image_size` pixels.

  If `root/sketch/` is absent (or was drawn with another method) it is drawn
  first with `sketch_method`, so real data needs no extra step; a single
  missing sketch in an existing folder is a bad sample instead.

  Raises:
    FileNotFoundError: no root, photo folder, mapping or identity file.
    ValueError: no photos, or none that could be used.
  """
  if sketch_method not in sketch.METHODS:
    raise ValueError(f"unknown sketch method {sketch_method!r}; expected one "
                     f"of {sketch.METHODS}")
  image_ids = _list_photos(root)
  identities, skipped = _join_identities(root, image_ids, identity_file)
  _ensure_sketches(root, sketch_method, workers)
  masks = layout.list_mask_paths(root)
  ids = [i for i in image_ids if i in identities]
  cache = _cache_path(root, image_size, sketch_method, identity_file, ids,
                      masks)
  if os.path.exists(cache):
    face_set = _read_cache(cache)
  else:
    face_set = _decode_all(root, image_size, ids, identities, masks, workers)
    face_set = dataclasses.replace(face_set,
                                   skipped={**skipped, **face_set.skipped})
    _write_cache(cache, face_set)
  for path, reason in face_set.skipped.items():
    decode.log_bad_once(decode.BadFile(path, reason))
  if not len(face_set):
    raise ValueError(f"no usable sample under {root}: all "
                     f"{len(face_set.skipped)} were skipped (see the "
                     "warnings above for each path and reason)")
  n_ids = len(np.unique(face_set.identities))
  logging.info("Loaded %d photos of %d identities from %s at %d px; "
               "skipped %d", len(face_set), n_ids, root, image_size,
               len(face_set.skipped))
  return face_set


def _ensure_sketches(root: str, method: str, workers: int) -> None:
  """Draws `root/sketch/` if it is absent or was drawn with another method.

  A folder without `method.txt` holds the user's own sketches: used as is.
  """
  drawn_with = sketch.read_method(root)
  absent = not os.path.isdir(os.path.join(root, layout.SKETCH_DIR))
  if absent or (drawn_with and drawn_with != method):
    logging.info("Drawing %s sketches for %s", method, root)
    sketch.write_sketches(root, method, workers)


def _list_photos(root: str) -> List[int]:
  """The photo ids under `root`, or an error saying what was expected."""
  for path in (root, os.path.join(root, layout.IMAGE_DIR)):
    if not os.path.isdir(path):
      raise FileNotFoundError(
          f"{path} not found: expected a CelebAMask-HQ layout under {root} "
          f"({layout.EXPECTED_LAYOUT}); for a synthetic set run `s2f-data "
          f"synth --out {root}` or set DataConfig.synthesize")
  image_ids = layout.list_image_ids(root)
  if not image_ids:
    raise ValueError(f"{os.path.join(root, layout.IMAGE_DIR)} holds no "
                     "photos: expected files named {idx}.jpg, e.g. 0.jpg")
  return image_ids


def _join_identities(root: str, image_ids: Sequence[int],
                     identity_file: str) -> Tuple[Dict[int, int],
                                                  Dict[str, str]]:
  """idx -> identity through the mapping; photos without one are skipped."""
  mapping_file = layout.mapping_path(root)
  identity_path = layout.identity_path(root, identity_file)
  if not os.path.exists(mapping_file):
    raise FileNotFoundError(
        f"{mapping_file} not found: expected CelebAMask-HQ's "
        f"'{layout.MAPPING_FILE}' (columns idx orig_idx orig_file) in {root}")
  if not os.path.exists(identity_path):
    raise FileNotFoundError(
        f"{identity_path} not found: CelebAMask-HQ ships no identities; "
        f"download CelebA's '{layout.IDENTITY_FILE}' (lines '{{file}} "
        f"{{identity}}') and put it there or pass its path as identity_file")
  mapping = layout.read_mapping(mapping_file)
  by_file = layout.read_identities(identity_path)
  identities, skipped = {}, {}
  for idx in image_ids:
    identity = by_file.get(mapping.get(idx, ""))
    if identity is None:
      skipped[layout.image_path(root, idx)] = (
          f"no identity: idx {idx} is not in {mapping_file} or its CelebA "
          f"file is not in {identity_path}")
    else:
      identities[idx] = identity
  return identities, skipped


def _decode_all(root: str, size: int, ids: Sequence[int],
                identities: Dict[int, int], masks: Dict[int, Dict[str, str]],
                workers: int) -> FaceSet:
  """Decodes samples into preallocated arrays; bad rows are dropped after."""
  n = len(ids)
  photos = np.zeros((n, size, size, 3), np.uint8)
  sketches = np.zeros((n, size, size, 1), np.uint8)
  labels = np.zeros((n, size, size), np.uint8)

  def load(row: int):
    idx = ids[row]
    try:
      photo = decode.read_image(layout.image_path(root, idx), "rgb")
      labels[row] = decode.read_label_map(root, idx, masks.get(idx, {}),
                                          photo.shape[:2], (size, size))
      path = layout.sketch_path(root, idx)
      drawing = decode.read_image(path, "gray")
      decode.check_aspect(path, drawing.shape, photo.shape)
    except decode.BadFile as e:
      return e
    photos[row] = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
    sketches[row, :, :, 0] = cv2.resize(drawing, (size, size),
                                        interpolation=cv2.INTER_AREA)
    return None

  errors = decode.parallel_map(load, range(n), workers)
  keep = np.array([e is None for e in errors], bool)
  return FaceSet(
      photos=photos[keep], sketches=sketches[keep], masks=labels[keep],
      identities=np.array([identities[i] for i in ids], np.int32)[keep],
      image_ids=np.array(ids, np.int32)[keep],
      skipped={e.path: e.reason for e in errors if e is not None})


def _cache_path(root: str, size: int, method: str, identity_file: str,
                ids: Sequence[int], masks: Dict[int, Dict[str, str]]) -> str:
  """Cache file named by a hash of every input's size and mtime.

  Costs one stat per file (about a second for all of CelebAMask-HQ), far
  less than decoding, and catches replaced, edited or added files.
  """
  paths = [layout.mapping_path(root), layout.identity_path(root,
                                                           identity_file)]
  for idx in ids:
    paths += [layout.image_path(root, idx), layout.sketch_path(root, idx)]
    paths += sorted(masks.get(idx, {}).values())
  digest = hashlib.sha1(f"{_CACHE_VERSION} {size} {method}".encode())
  for path in paths:
    try:
      st = os.stat(path)
      digest.update(f"{path} {st.st_size} {st.st_mtime_ns}\n".encode())
    except FileNotFoundError:
      digest.update(f"{path} missing\n".encode())
  name = f"faces_{size}px_{method}_{digest.hexdigest()[:16]}.npz"
  return os.path.join(root, CACHE_DIR, name)


def _read_cache(path: str) -> FaceSet:
  with np.load(path, allow_pickle=False) as z:
    return FaceSet(photos=z["photos"], sketches=z["sketches"],
                   masks=z["masks"], identities=z["identities"],
                   image_ids=z["image_ids"],
                   skipped=json.loads(str(z["skipped"])))


def _write_cache(path: str, face_set: FaceSet) -> None:
  """Writes atomically and drops older caches of the same size and method.

  The temporary name is per process, and other processes' temporary files
  are left alone, so workers of a multi-worker run that share the data root
  can write the cache at the same time without corrupting it.
  """
  prefix = os.path.basename(path).rsplit("_", 1)[0] + "_"
  tmp = f"{path}.{os.getpid()}.tmp"
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for name in os.listdir(os.path.dirname(path)):
      if name.startswith(prefix) and not name.endswith(".tmp"):
        os.remove(os.path.join(os.path.dirname(path), name))
    with open(tmp, "wb") as f:
      np.savez(f, photos=face_set.photos, sketches=face_set.sketches,
               masks=face_set.masks, identities=face_set.identities,
               image_ids=face_set.image_ids,
               skipped=np.array(json.dumps(face_set.skipped)))
    os.replace(tmp, path)
  except OSError as e:
    logging.warning("Could not cache decoded faces at %s (%s); the next "
                    "load will decode again", path, e)


def split_identities(face_set: FaceSet, heldout_fraction: float, seed: int,
                     root: Optional[str] = None) -> Dict[str, List[int]]:
  """Splits identities (never photos) into train and held-out sets.

  Few-shot evaluation must only meet people the model never saw. The split
  is a seeded permutation of the sorted identity ids, so it is the same on
  every machine; with `root` it is also written to
  `root/split_seed{seed}_heldout{fraction}.json`.

  Raises:
    ValueError: the fraction is outside [0, 1) or leaves no training identity.
  """
  ids = np.unique(face_set.identities)
  if not 0.0 <= heldout_fraction < 1.0:
    raise ValueError(f"heldout_fraction must be in [0, 1), got "
                     f"{heldout_fraction}")
  n_heldout = int(round(heldout_fraction * len(ids)))
  n_heldout = max(n_heldout, 1) if heldout_fraction > 0 else 0
  if n_heldout >= len(ids):
    raise ValueError(f"cannot hold out {heldout_fraction} of {len(ids)} "
                     "identities and keep one for training; add identities "
                     "or lower heldout_fraction")
  order = np.random.default_rng(seed).permutation(ids)
  split = dict(train=sorted(int(i) for i in order[n_heldout:]),
               heldout=sorted(int(i) for i in order[:n_heldout]))
  if root:
    path = os.path.join(root, f"split_seed{seed}_heldout{heldout_fraction:g}"
                        ".json")
    try:
      with open(path, "w") as f:
        json.dump(dict(seed=seed, heldout_fraction=heldout_fraction, **split),
                  f, indent=1)
    except OSError as e:
      logging.warning("Could not write the split file %s: %s", path, e)
  return split


def select(face_set: FaceSet, identity_ids: Sequence[int]) -> FaceSet:
  """The rows of `face_set` whose identity is in `identity_ids`."""
  rows = np.isin(face_set.identities, np.asarray(identity_ids, np.int32))
  return FaceSet(photos=face_set.photos[rows],
                 sketches=face_set.sketches[rows], masks=face_set.masks[rows],
                 identities=face_set.identities[rows],
                 image_ids=face_set.image_ids[rows],
                 skipped=face_set.skipped)


def usable_identities(face_set: FaceSet, k_refs: int) -> np.ndarray:
  """Identities with at least k_refs + 1 photos: a target and K others."""
  ids, counts = np.unique(face_set.identities, return_counts=True)
  return ids[counts >= k_refs + 1]


def ensure_face_set(data: config_lib.DataConfig) -> None:
  """With `data.synthesize`, fills a missing or empty root with the
  synthetic set (synth_* fields); an existing root is left as it is."""
  root = data.root
  if data.synthesize and not (os.path.isdir(root) and os.listdir(root)):
    logging.info("No face set at %s: synthesizing one", root)
    synth.write_synthetic_faces(root, data.synth_identities,
                                data.synth_per_identity, data.synth_size,
                                data.synth_seed, data.sketch_method)


def load_splits(data: config_lib.DataConfig) -> Tuple[FaceSet, FaceSet]:
  """The (train, heldout) face sets a `DataConfig` describes.

  With `data.synthesize`, a missing or empty root is first filled with the
  synthetic set (synth_* fields); an existing root is used as it is.

  Raises:
    FileNotFoundError: the root is missing and synthesize is off.
    ValueError: an empty set, or a split with no identity that has
      k_refs + 1 photos.
  """
  root = data.root
  ensure_face_set(data)
  face_set = load_face_set(root, data.image_size, data.sketch_method,
                           data.identity_file)
  split = split_identities(face_set, data.heldout_fraction, data.split_seed,
                           root)
  parts = (select(face_set, split["train"]), select(face_set,
                                                    split["heldout"]))
  for name, part in zip(("train", "heldout"), parts):
    if split[name] and not len(usable_identities(part, data.k_refs)):
      raise ValueError(
          f"the {name} split of {root} has no identity with at least "
          f"{data.k_refs + 1} photos (a target plus k_refs={data.k_refs} "
          "references); add photos or lower k_refs")
  return parts
