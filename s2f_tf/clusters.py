"""pix2pixHD's clustered region features: multimodal faces from one map.

A pix2pixHD run with `--label_feat` learns an encoder whose output, averaged
inside each class region of a photo, steers the generator (Wang et al. 2018,
arXiv:1711.11585, Sec. 3.3). After training, pix2pixHD's precompute step runs
k-means per class on the region features of the training photos (10 centres
per class); at inference a user picks one centre per class, e.g. another
hair colour, and the generator draws that face from the same label map.

`compute` does the precompute step on a workdir's training split and
`save`s the centres to `<workdir>/features/clusters.npz`; `parse_choices`
and `draw` serve `s2f-sample --clusters=hair:3,skin:7` (from a run or an
export). Centres are sorted by cluster size, largest first, so cluster 0 of
a class is its most common look, and the classes a user does not name take
it.

`s2f-export` carries the centres into the SavedModel's assets
(`export_assets`), where `load_for_serving` finds them again for
`s2f-serve`, whose requests name clusters as {"hair": 3}
(`request_choices`), drawn through the export's `label2face_features`.
"""

import os
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from s2f_tf import export
from s2f_tf import pixels
from s2f_tf import tasks
from s2f_tf.data import decode
from s2f_tf.data import labels as labels_lib
from s2f_tf.data import layout
from s2f_tf.serving import label2face as label2face_serving

CLUSTERS_PER_CLASS = 10  # pix2pixHD's precompute_feature_maps default.
KMEANS_ITERATIONS = 100
BATCH = 32
CLUSTERS_FILE = os.path.join("features", "clusters.npz")
REQUEST_FIELD = "clusters"  # s2f-serve's {"hair": 3}.
FEATURES_INPUT = "features"  # label2face_features' region features.


def clusters_path(workdir: str) -> str:
  return os.path.join(workdir, CLUSTERS_FILE)


def nearest_clusters(values: np.ndarray, regions: np.ndarray,
                     centres: Mapping[str, np.ndarray]) -> np.ndarray:
  """int [N]: the index of the centre of its own class (`regions`, class
  names [N]) nearest each point of `values` [N, F]; -1 for a class with no
  clusters. The projector's "cluster" column: which of `s2f-sample
  --clusters=hair:INDEX` a region's look is closest to."""
  out = np.full(len(values), -1, np.int64)
  for name, class_centres in centres.items():
    rows = np.flatnonzero(regions == name)
    if len(rows):
      out[rows] = _nearest(np.asarray(values[rows], np.float64),
                           class_centres)
  return out


def kmeans(points: np.ndarray, k: int, seed: int = 0
           ) -> Tuple[np.ndarray, np.ndarray]:
  """Lloyd's k-means with k-means++ seeding (Arthur and Vassilvitskii 2007).

  Args: points [N, F]; k <= N. Returns (centres [c, F], sizes [c]), sorted
  by size, largest first (ties by centre order, so results are
  reproducible for a seed); c < k when some centres end with no point
  (repeated points), which are dropped: no choice should draw nothing.
  """
  points = np.asarray(points, np.float64)
  if not 1 <= k <= len(points):
    raise ValueError(f"k-means needs 1 <= k={k} <= points={len(points)}")
  rng = np.random.default_rng(seed)
  centres = [points[rng.integers(len(points))]]
  for _ in range(1, k):
    dist = np.min([((points - c)**2).sum(1) for c in centres], axis=0)
    if dist.sum() == 0:  # Fewer distinct points than k: repeat one.
      centres.append(points[rng.integers(len(points))])
      continue
    centres.append(points[rng.choice(len(points), p=dist / dist.sum())])
  centres = np.array(centres)
  for _ in range(KMEANS_ITERATIONS):
    assign = _nearest(points, centres)
    moved = np.array([points[assign == j].mean(0) if np.any(assign == j)
                      else centres[j] for j in range(k)])
    if np.array_equal(moved, centres):
      break
    centres = moved
  sizes = np.bincount(_nearest(points, centres), minlength=k)
  order = np.argsort(-sizes, kind="stable")
  order = order[sizes[order] > 0]
  return centres[order], sizes[order]


def _nearest(points, centres):
  return np.argmin(((points[:, None] - centres[None])**2).sum(-1), axis=1)


def compute(workdir: str, clusters: int = CLUSTERS_PER_CLASS,
            seed: int = 0) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  """{class name: (centres [k, feat_num], sizes [k])} of the training
  photos' region features, k = min(clusters, photos showing the class)."""
  task, generator, _ = tasks.restore(workdir)
  if not getattr(generator, "feature_encoder", None):
    raise ValueError(f"{workdir} has no feature encoder: cluster features "
                     "of a --model=pix2pixhd --label_feat run")
  train_set = task.training_split()
  features, present = [], []
  for start in range(0, len(train_set), BATCH):
    f, p = generator.encode_regions_per_image(
        pixels.to_unit(train_set.photos[start:start + BATCH]),
        train_set.masks[start:start + BATCH].astype(np.int32))
    features.append(np.asarray(f))
    present.append(np.asarray(p) > 0)
  features, present = np.concatenate(features), np.concatenate(present)
  result = {}
  for class_id in range(task.config.family.label_nc):
    points = features[present[:, class_id], class_id]
    if len(points):
      result[layout.CLASS_NAMES[class_id]] = kmeans(
          points, min(clusters, len(points)), seed)
  return result


def save(workdir: str, result: Mapping[str, Tuple[np.ndarray, np.ndarray]]
         ) -> str:
  path = clusters_path(workdir)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  arrays = {}
  for name, (centres, sizes) in result.items():
    arrays[f"{name}/centres"], arrays[f"{name}/sizes"] = centres, sizes
  np.savez(path, **arrays)
  return path


def load(workdir: str) -> Dict[str, np.ndarray]:
  """{class name: centres [k, feat_num]}; FileNotFoundError naming the
  command that makes them."""
  path = clusters_path(workdir)
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"{path} does not exist: run python tools/cluster_features.py "
        f"--workdir={workdir} first")
  return _read(path)


def export_assets(workdir: str) -> List[str]:
  """The files an export of `workdir` carries: its centres, if computed."""
  path = clusters_path(workdir)
  return [path] if os.path.isfile(path) else []


def load_for_serving(export_dir: str = "", workdir: str = ""
                     ) -> Optional[Dict[str, np.ndarray]]:
  """The centres an export carries (`export_assets`), or a run's; None
  when there are none."""
  path = (export.asset_path(export_dir, os.path.basename(CLUSTERS_FILE))
          if export_dir else clusters_path(workdir))
  return _read(path) if os.path.isfile(path) else None


def _read(path):
  with np.load(path) as data:
    return {key.split("/")[0]: data[key] for key in data.files
            if key.endswith("/centres")}


def parse_choices(text: str, centres: Mapping[str, np.ndarray],
                  field: str = "--clusters") -> Dict[str, int]:
  """"hair:3,skin:7" -> {"hair": 3, "skin": 7}, each checked against the
  classes and cluster counts of `centres` (ValueError, one line starting
  with `field`)."""
  choices = {}
  for item in filter(None, (part.strip() for part in text.split(","))):
    name, sep, index = item.partition(":")
    if not sep or not index.strip().isdigit():
      raise ValueError(f"{field}: {item!r} is not CLASS:INDEX "
                       "(e.g. hair:3)")
    if name not in centres:
      raise ValueError(f"{field}: no clusters for class {name!r}; the "
                       f"run has {', '.join(sorted(centres))}")
    if int(index) >= len(centres[name]):
      raise ValueError(f"{field}: {name} has clusters 0 to "
                       f"{len(centres[name]) - 1}, not {int(index)}")
    choices[name] = int(index)
  return choices


def request_features(request, centres: Mapping[str, np.ndarray],
                     family_config) -> np.ndarray:
  """s2f-serve's `REQUEST_FIELD` -> the region features [L, feat_num] of
  its choices (ValueError, one line, as `request_choices`)."""
  return region_features(centres, request_choices(request, centres),
                         family_config.label_nc, family_config.feat_num)


def request_choices(request, centres: Mapping[str, np.ndarray]
                    ) -> Dict[str, int]:
  """s2f-serve's {"hair": 3} (JSON) checked as `parse_choices` checks
  "hair:3" (ValueError, one line starting "clusters")."""
  if not isinstance(request, dict) or not all(
      isinstance(i, int) and not isinstance(i, bool)
      for i in request.values()):
    raise ValueError(f"clusters: expected {{\"class\": index, ...}}, got "
                     f"{request!r}")
  return parse_choices(",".join(f"{name}:{index}"
                                for name, index in request.items()),
                       centres, field="clusters")


def region_features(centres: Mapping[str, np.ndarray],
                    choices: Mapping[str, int], label_nc: int,
                    feat_num: int) -> np.ndarray:
  """float32 [L, feat_num]: each class's chosen centre (cluster 0, its most
  common look, where not chosen; zeros for a class never seen)."""
  out = np.zeros((label_nc, feat_num), np.float32)
  for class_id in range(label_nc):
    name = layout.CLASS_NAMES[class_id]
    if name in centres:
      out[class_id] = centres[name][choices.get(name, 0)]
  return out


def draw(labels: np.ndarray, choices_text: str, export_dir: str = "",
         workdir: str = "") -> np.ndarray:
  """uint8 [S, S, 3]: the face for class ids `labels` [S, S] with the
  region features of the clusters `choices_text` names ("hair:3"), from the
  export `export_dir` (the centres in its assets) or else the run
  `workdir`, through the same `label2face_features` signature."""
  centres = _centres(export_dir, workdir)
  return _draw(labels, centres, parse_choices(choices_text, centres),
               export_dir, workdir)


def _centres(export_dir, workdir):
  if not export_dir:
    return load(workdir)  # Names the tool that computes them.
  centres = load_for_serving(export_dir=export_dir)
  if centres is None:
    raise FileNotFoundError(
        f"{export_dir} carries no cluster centres: run python "
        "tools/cluster_features.py --workdir=RUN, then s2f-export the run "
        "again (its centres go into the export's assets)")
  return centres


def _draw(labels, centres, choices, export_dir, workdir):
  config, fns = export.load_image_fns(None, export_dir, workdir)
  family = config.family
  features = region_features(centres, choices, family.label_nc,
                             family.feat_num)
  return fns[label2face_serving.FEATURES]({
      "labels": labels[None].astype(np.uint8),
      FEATURES_INPUT: features[None]})[0]


def draw_file(labels_path: str, choices_text: str, out: str,
              export_dir: str = "", workdir: str = "") -> str:
  """`draw` from a label-map PNG to a PNG (`s2f-sample --clusters`); the
  model, the map and the choices are checked before the model loads."""
  config = export.serving_config(export_dir, workdir)
  if not getattr(config.family, "label_feat", False):
    raise ValueError(
        f"--clusters picks pix2pixHD's region features; this model "
        f"(--task={config.model.task} --model={config.model.model}) has "
        "none: train with --model=pix2pixhd --label_feat")
  if getattr(config.family, "edge_source", "") == "sketch":
    raise ValueError(
        "--clusters draws from --labels alone, and this model "
        "(--edge_source=sketch) also reads the face's sketch: call the "
        "export's label2face_features signature with both")
  labels = labels_lib.read_class_map(labels_path, config.data.image_size,
                                     config.family.label_nc)
  centres = _centres(export_dir, workdir)
  choices = parse_choices(choices_text, centres)
  decode.write_png(out, _draw(labels, centres, choices, export_dir, workdir))
  return out
