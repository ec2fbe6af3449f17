"""`s2f-project`: a trained run's style codes and content features, explored.

Exports per-photo embeddings of the latest checkpoint for TensorBoard's
Embedding Projector, into `workdir/projector`:

  style    [N, style_dim]   each photo alone as a K=1 reference through the
                            style embedder: do photos of one person cluster?
  content  [N, h * w * C]   the content encoder's spatial features of each
                            photo's sketch, flattened row-major.

Every point carries the metadata columns identity, split and image (the {idx}
of `{idx}.jpg`) and a thumbnail of its photo. Open it with
`tensorboard --logdir <workdir>/projector`. Not `--logdir <workdir>`: that
would also load the training logs, for nothing. The folder must stay free of
TF checkpoints (ours live in workdir/checkpoints): TensorBoard would add their
2-D variables as extra embeddings.
"""

import dataclasses
import os
from typing import Dict, Sequence, Tuple

from absl import logging
import numpy as np

from projector import export_embeddings
from projector import Exported
from projector import exporter
from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import pixels
from s2f_tf.data import reader

FEATURES = ("style", "content")
SPLITS = ("train", "heldout", "both")
DEFAULT_MAX_POINTS = 1000  # Demo content features: 1000 x 32768 = 131 MB.
BATCH_SIZE = 64  # Bounds activation memory, whatever N is.


def projector_dir(workdir: str) -> str:
  return os.path.join(workdir, "projector")


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


def export_projector(workdir: str, split: str = "heldout",
                     max_points: int = DEFAULT_MAX_POINTS,
                     features: Sequence[str] = FEATURES
                     ) -> Dict[str, Exported]:
  """Exports `features` of the latest checkpoint in `workdir`.

  Arguments and the run's config are checked before the checkpoint is
  restored, so a typo costs no model build. Embeddings not in `features`
  stay in `workdir/projector` as an earlier call wrote them.

  Args:
    workdir: an s2f-train run directory.
    split: "heldout" (people never trained on: the honest test of the style
      embedder), "train", or "both".
    max_points: at most this many photos, the first in (identity, image)
      order: whole identities, so each shows as a full cluster; only the last
      one may be cut.
    features: any of FEATURES, as a sequence or "style,content".

  Returns:
    feature name -> `projector.Exported`.

  Raises:
    FileNotFoundError: no config.json or no checkpoint in `workdir`.
    ValueError: bad arguments, fewer than 4 photos, or style codes of a run
      without a style embedder; each message says how to fix it.
  """
  features = _check_arguments(split, max_points, features)
  source = config_lib.load_config(workdir).model.style_source
  if "style" in features and source != "embedder":
    raise ValueError(
        f"--features=style needs the style embedder, but {workdir} was "
        f"trained with --style_source={source!r}, a debugging mode that "
        f"ignores reference photos and has no embedder; export "
        f"--features=content, or train with --style_source=embedder")
  config, generator, step = checkpointing.restore_generator(workdir)
  points = select_points(*reader.load_splits(config.data), split, max_points)
  encoders = {  # name -> (encoder, its input).
      "style": (lambda photos: generator.encode_style_per_image(
          photos[:, None])[:, 0], points.photos),
      "content": (generator.encode_content, points.sketches),
  }
  exported = {}
  for name in features:
    exported[name] = export_embeddings(
        projector_dir(workdir), encode_batched(*encoders[name]),
        metadata=points.metadata(), images=points.photos, name=name)
  logging.info("Exported %s of %d %s photos at step %d to %s",
               ", ".join(features), len(points.photos), split, step,
               projector_dir(workdir))
  return exported


def _check_arguments(split: str, max_points: int,
                     features: Sequence[str]) -> Tuple[str, ...]:
  """Returns `features` de-duplicated (a str is split at commas)."""
  if isinstance(features, str):
    features = features.split(",")
  features = tuple(dict.fromkeys(f.strip() for f in features))
  unknown = [f for f in features if f not in FEATURES]
  if unknown or not features:
    raise ValueError(f"--features={','.join(features)}: unknown {unknown}; "
                     f"name one or more of {', '.join(FEATURES)}, e.g. "
                     f"--features={','.join(FEATURES)}")
  if split not in SPLITS:
    raise ValueError(f"--split={split!r} is unknown; use one of {SPLITS}")
  if max_points < exporter.MIN_POINTS:
    raise ValueError(f"--max_points={max_points}: the projector's PCA and "
                     f"t-SNE need at least {exporter.MIN_POINTS} points")
  return features


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
