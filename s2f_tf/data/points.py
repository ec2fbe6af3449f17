"""Photos of a face set chosen for the Embedding Projector, and batched encoding.

Points are whole identities in (identity, image id) order, so each person
shows as a full cluster; only the last one may be cut by `max_points`.
"""

import dataclasses
from typing import Dict

import numpy as np

from projector import exporter
from s2f_tf import pixels
from s2f_tf.data import reader

BATCH_SIZE = 64  # Bounds activation memory, whatever N is.


@dataclasses.dataclass(frozen=True)
class Points:
  """The photos to embed; row i of every array is one point."""

  photos: np.ndarray  # uint8 [N, S, S, 3].
  sketches: np.ndarray  # uint8 [N, S, S, 1].
  identities: np.ndarray  # int32 [N].
  image_ids: np.ndarray  # int32 [N].
  splits: np.ndarray  # str [N], "train" or "heldout".

  def metadata(self) -> Dict[str, np.ndarray]:
    return {"identity": self.identities, "split": self.splits,
            "image": self.image_ids}


def select_points(train: reader.FaceSet, heldout: reader.FaceSet, split: str,
                  max_points: int) -> Points:
  """The first `max_points` photos of `split` by (identity, image id).

  Identities never span splits, so "both" orders the union the same way.

  Raises:
    ValueError: fewer than 4 photos to show.
  """
  parts = {"train": train, "heldout": heldout}
  names = ("train", "heldout") if split == "both" else (split,)
  stack = lambda field: np.concatenate(
      [getattr(parts[name], field) for name in names])
  splits = np.repeat(names, [len(parts[name]) for name in names])
  identities, image_ids = stack("identities"), stack("image_ids")
  rows = np.lexsort((image_ids, identities))[:max_points]
  if len(rows) < exporter.MIN_POINTS:
    raise ValueError(
        f"the {split} split has {len(rows)} photos; the projector needs at "
        f"least {exporter.MIN_POINTS}: use --split=both or add photos")
  return Points(photos=stack("photos")[rows],
                sketches=stack("sketches")[rows], identities=identities[rows],
                image_ids=image_ids[rows], splits=splits[rows])


def encode_batched(encode, images: np.ndarray,
                   batch_size: int = BATCH_SIZE) -> np.ndarray:
  """`encode` of uint8 images mapped to [-1, 1], as the data pipeline does.

  Batching bounds memory; the model runs with training=False, so the output
  of a row does not depend on its batch.
  """
  outputs = []
  for start in range(0, len(images), batch_size):
    batch = pixels.to_unit(images[start:start + batch_size])
    outputs.append(np.asarray(encode(batch)))
  return np.concatenate(outputs)
