"""`s2f-project`: a trained run's embeddings in TensorBoard's projector.

Exports the embeddings the run's task offers (`Task.embeddings`) for the
latest checkpoint into `workdir/projector`. For the few-shot task:

  style    [N, style_dim]   each photo alone as a K=1 reference through the
                            style embedder: do photos of one person cluster?
  content  [N, h * w * C]   the content encoder's spatial features of each
                            photo's sketch, flattened row-major.

Every point carries its task's metadata columns (few-shot: identity, split
and image, the {idx} of `{idx}.jpg`) and a thumbnail. Region points (SEAN's
codes, pix2pixHD's region features) also carry "region", and "cluster"
when the run has k-means centres (tools/cluster_features.py): the nearest
of its class's, the index `s2f-sample --clusters=hair:INDEX` takes. Open it with
`tensorboard --logdir <workdir>/projector`. Not `--logdir <workdir>`: that
would also load the training logs, for nothing. The folder must stay free of
TF checkpoints (ours live in workdir/checkpoints): TensorBoard would add their
2-D variables as extra embeddings.
"""

import os
from typing import Dict, Sequence, Tuple

from absl import logging

from projector import export_embeddings
from projector import Exported
from projector import exporter
from s2f_tf import clusters
from s2f_tf import config as config_lib
from s2f_tf import tasks

SPLITS = ("train", "heldout", "both")
DEFAULT_MAX_POINTS = 1000  # Demo content features: 1000 x 32768 = 131 MB.


def projector_dir(workdir: str) -> str:
  return os.path.join(workdir, "projector")


def export_projector(workdir: str, split: str = "heldout",
                     max_points: int = DEFAULT_MAX_POINTS,
                     features: Sequence[str] = ()) -> Dict[str, Exported]:
  """Exports `features` of the latest checkpoint in `workdir`.

  Arguments are checked against the run's task before the checkpoint is
  restored, so a typo costs no model build. Embeddings not in `features`
  stay in `workdir/projector` as an earlier call wrote them.

  Args:
    workdir: an s2f-train run directory.
    split: "heldout" (people never trained on: the honest test of the style
      embedder), "train", or "both".
    max_points: at most this many points, the first in (identity, image)
      order: whole identities, so each shows as a full cluster; only the last
      one may be cut.
    features: names from the task's EMBEDDINGS, as a sequence or
      "style,content"; empty: all of them.

  Returns:
    feature name -> `projector.Exported`.

  Raises:
    FileNotFoundError: no config.json or no checkpoint in `workdir`.
    ValueError: bad arguments, fewer than 4 points, or an embedding the run
      cannot give; each message says how to fix it.
  """
  _check_split_and_size(split, max_points)
  task_class = tasks.task_class(config_lib.load_config(workdir).model.task)
  features = _check_features(features, task_class.EMBEDDINGS)
  task, generator, step = tasks.restore(workdir)
  embeddings = task.embeddings(generator, split, max_points, features)
  if os.path.isfile(clusters.clusters_path(workdir)):
    centres = clusters.load(workdir)
    for e in embeddings.values():
      if "region" in e.metadata:  # tools/cluster_features.py's k-means.
        e.metadata["cluster"] = clusters.nearest_clusters(
            e.values, e.metadata["region"], centres)
  exported = {name: export_embeddings(
      projector_dir(workdir), e.values, metadata=e.metadata, images=e.images,
      name=name) for name, e in embeddings.items()}
  logging.info("Exported %s of %s points at step %d to %s",
               ", ".join(features), split, step, projector_dir(workdir))
  return exported


def _check_split_and_size(split: str, max_points: int) -> None:
  if split not in SPLITS:
    raise ValueError(f"--split={split!r} is unknown; use one of {SPLITS}")
  if max_points < exporter.MIN_POINTS:
    raise ValueError(f"--max_points={max_points}: the projector's PCA and "
                     f"t-SNE need at least {exporter.MIN_POINTS} points")


def _check_features(features: Sequence[str],
                    offered: Sequence[str]) -> Tuple[str, ...]:
  """Returns `features` de-duplicated (a str is split at commas)."""
  if not offered:
    raise ValueError("this run's task has no embeddings to project")
  if isinstance(features, str):
    features = features.split(",")
  features = tuple(dict.fromkeys(f.strip() for f in features if f.strip()))
  features = features or tuple(offered)
  unknown = [f for f in features if f not in offered]
  if unknown:
    raise ValueError(f"--features={','.join(features)}: unknown {unknown}; "
                     f"name one or more of {', '.join(offered)}, e.g. "
                     f"--features={','.join(offered)}")
  return features
