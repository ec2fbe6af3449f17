"""The U-GAT-IT folder layout of an unpaired set, loaded into numpy arrays.

U-GAT-IT (Kim et al. 2020, arXiv:1907.10830) and CycleGAN (Zhu et al. 2017,
arXiv:1703.10593) read two image domains from four folders under one root::

  trainA/  trainB/  testA/  testB/      (.jpg/.jpeg/.png, any names)

and nothing pairs a file of A with one of B. This toolkit reads two optional
parts more, which the synthetic selfie->anime set (`anime`) writes::

  unpaired.json                    {"identities": {split: {file: person}}}
  hidden/testA_in_B/{file}         the true B rendering of testA/{file}
  hidden/testB_in_A/{file}         the true A rendering of testB/{file}
  hidden/labels/testA_in_B/{file}  class ids (CelebAMask-HQ order, gray
  hidden/labels/testB_in_A/{file}  PNG) of each hidden truth

Known identities let the batch pipeline keep one person out of both halves
of a batch; the hidden truths give unpaired translation a score it normally
cannot have (hidden-pair PSNR, per-region colour error). Training never
reads `hidden/`.

NumPy and OpenCV only: `s2f-data` writes this layout without TensorFlow.
"""

import dataclasses
import json
import os
from typing import Dict, Optional, Tuple

from absl import logging
import cv2
import numpy as np

from s2f_tf.data import decode

SPLITS = ("trainA", "trainB", "testA", "testB")
HIDDEN_DIR = "hidden"
LABEL_DIR = "labels"
METADATA_FILE = "unpaired.json"
# Direction -> (test split read as input, hidden folder of its truths).
DIRECTIONS = {"a2b": ("testA", "testA_in_B"), "b2a": ("testB", "testB_in_A")}
UNKNOWN = -1  # Identity of a file the set says nothing about.
EXPECTED_LAYOUT = (f"{'/ '.join(SPLITS)}/ holding "
                   f"{'/'.join(decode.EXTENSIONS)} images")


class UnpairedDataError(ValueError):
  """An unpaired folder that cannot be used; the message says how to fix it.

  A ValueError, so every CLI prints it as one line with the bad-input exit
  code.
  """


@dataclasses.dataclass(frozen=True, eq=False)
class Domain:
  """One split's decoded images; row i of every array is the same file."""
  folder: str
  images: np.ndarray  # uint8 [N, S, S, 3], RGB.
  names: Tuple[str, ...]  # Paths relative to `folder`, '/'-separated.
  identities: np.ndarray  # int32 [N]; UNKNOWN where the set does not say.
  skipped: Dict[str, str]  # Bad path -> why it was skipped.

  def __len__(self) -> int:
    return len(self.names)


@dataclasses.dataclass(frozen=True, eq=False)
class TestPairs:
  """A test split and, when the set has them, its hidden truths, row-aligned.

  `truths[i]` is the true other-domain rendering of `inputs.images[i]` and
  `truth_labels[i]` its class-id map; both are None when the set has no
  hidden truths (any real set), and labels alone when it has no label maps.
  """
  inputs: Domain
  truths: Optional[np.ndarray]  # uint8 [N, S, S, 3].
  truth_labels: Optional[np.ndarray]  # uint8 [N, S, S].


def split_folder(root: str, split: str) -> str:
  """`root/split`, or an UnpairedDataError naming what is missing.

  Raises:
    UnpairedDataError: `root` or its `split` folder does not exist.
  """
  if not os.path.isdir(root):
    raise UnpairedDataError(
        f"unpaired data folder {root} not found: expected {EXPECTED_LAYOUT}; "
        f"`s2f-data synth --style=anime --out {root}` writes a synthetic one")
  folder = os.path.join(root, split)
  if not os.path.isdir(folder):
    raise UnpairedDataError(
        f"{root} has no {split}/ folder: expected the U-GAT-IT layout "
        f"{EXPECTED_LAYOUT}")
  return folder


def read_identities(root: str) -> Dict[str, Dict[str, int]]:
  """{split: {file name: person}} from `root/unpaired.json`; {} without it.

  Raises:
    UnpairedDataError: the file exists but does not hold that mapping.
  """
  path = os.path.join(root, METADATA_FILE)
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      identities = json.load(f)["identities"]
    return {split: {str(name): int(person) for name, person in files.items()}
            for split, files in identities.items()}
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    raise UnpairedDataError(
        f"{path}: cannot read identities ({type(e).__name__}: {e}); expected "
        '{"identities": {"trainA": {"file.png": person id, ...}, ...}}, or '
        "remove the file") from None


def load_domain(root: str, split: str, image_size: int,
                workers: int = 2) -> Domain:
  """Decodes every usable image of `root/split` at `image_size` pixels.

  Images of any size or aspect are centre-cropped and resized as a user's
  photos are (`decode.read_photo`); bad files are skipped, counted and
  logged once each, then one line gives the count.

  Raises:
    UnpairedDataError: no root or split folder, no image in it, or none
      that decodes.
  """
  folder = split_folder(root, split)
  paths = decode.list_images(folder)
  if not paths:
    raise UnpairedDataError(
        f"{folder} holds no {'/'.join(decode.EXTENSIONS)} image (searched "
        f"recursively, any letter case): domain {split[-1]} of {split} is "
        "empty")
  images, kept, skipped = decode.read_photos(paths, image_size, workers)
  if not kept:
    raise UnpairedDataError(
        f"no usable image in {folder}: all {len(paths)} were skipped (see "
        "the warnings above for each path and reason)")
  logging.info("Loaded %d images from %s at %d px; skipped %d", len(kept),
               folder, image_size, len(skipped))
  names = tuple(os.path.relpath(p, folder).replace(os.sep, "/") for p in kept)
  known = read_identities(root).get(split, {})
  return Domain(folder=folder, images=images, names=names,
                identities=np.array([known.get(n, UNKNOWN) for n in names],
                                    np.int32),
                skipped=skipped)


def _read_labels(path: str, size: int) -> np.ndarray:
  """A class-id PNG cropped and resized (nearest) as its image was."""
  labels = decode.center_square(decode.read_image(path, "mask"))
  if labels.shape[0] == size:
    return labels
  return cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)


def _attach_truths(root: str, inputs: Domain, hidden: str, image_size: int,
                   workers: int) -> TestPairs:
  """Reads the hidden truth of every input; rows without one are skipped."""
  truth_dir = os.path.join(root, HIDDEN_DIR, hidden)
  label_dir = os.path.join(root, HIDDEN_DIR, LABEL_DIR, hidden)
  with_labels = os.path.isdir(label_dir)
  size, n = image_size, len(inputs)
  truths = np.zeros((n, size, size, 3), np.uint8)
  labels = np.zeros((n, size, size), np.uint8)

  def load(row: int):
    name = inputs.names[row]
    try:
      truths[row] = decode.read_photo(os.path.join(truth_dir, name), size)
      if with_labels:
        labels[row] = _read_labels(os.path.join(label_dir, name), size)
    except decode.BadFile as e:
      decode.log_bad_once(e)
      return e
    return None

  errors = decode.parallel_map(load, range(n), workers)
  keep = np.array([e is None for e in errors], bool)
  skipped = {e.path: e.reason for e in errors if e is not None}
  if not keep.any():
    raise UnpairedDataError(
        f"no usable hidden truth in {truth_dir} for the {n} images of "
        f"{inputs.folder}: expected the same file names (see the warnings "
        "above), or remove the folder to evaluate without hidden pairs")
  logging.info("Loaded %d hidden truths from %s; skipped %d test images "
               "without one", int(keep.sum()), truth_dir, len(skipped))
  kept_inputs = dataclasses.replace(
      inputs, images=inputs.images[keep],
      names=tuple(n for n, k in zip(inputs.names, keep) if k),
      identities=inputs.identities[keep],
      skipped={**inputs.skipped, **skipped})
  return TestPairs(inputs=kept_inputs, truths=truths[keep],
                   truth_labels=labels[keep] if with_labels else None)


def load_test_pairs(root: str, image_size: int,
                    workers: int = 2) -> Dict[str, TestPairs]:
  """{"a2b": testA with its true B renderings, "b2a": testB with its A}.

  Without `root/hidden/` (any real set) the truths are None and only the
  test images are read, for FID/KID/SWD.

  Raises:
    UnpairedDataError: a missing or empty test split, or a hidden folder
      with no usable truth.
  """
  pairs = {}
  for direction, (split, hidden) in DIRECTIONS.items():
    inputs = load_domain(root, split, image_size, workers)
    if os.path.isdir(os.path.join(root, HIDDEN_DIR, hidden)):
      pairs[direction] = _attach_truths(root, inputs, hidden, image_size,
                                        workers)
    else:
      pairs[direction] = TestPairs(inputs=inputs, truths=None,
                                   truth_labels=None)
  return pairs
