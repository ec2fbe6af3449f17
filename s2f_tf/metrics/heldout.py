"""Held-out episodes and the baselines every reference-driven family shares.

A family that takes a person's look from K reference photos (few-shot
sketch -> face, label map -> face) is measured on held-out identities
against the same two honest baselines: the mean training photo (the trivial
answer) and the model fed another held-out person's references (a model
that ignores its references cannot beat it). This module draws those
episodes, pairs each with another person, and turns per-batch image metrics
into the results both families report; `few_shot` and `label2face` add
their own measures on top.
"""

from typing import Callable, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from s2f_tf import pixels
from s2f_tf.data import episodes
from s2f_tf.data import layout
from s2f_tf.metrics import image

EVAL_SEED = 1234  # Draws the held-out episodes: the same ones every time.
# The measure each column of `image.image_metrics` belongs to.
COLUMNS = {"l1": "psnr", "psnr": "psnr", "ssim": "ssim"}
COUNTS = ("episodes", "examples")  # Kept with any measure.


def mean_photo(face_set) -> np.ndarray:
  """The mean training photo in [-1, 1]: the trivial baseline."""
  return pixels.to_unit(face_set.photos.astype(np.float32).mean(axis=0))


def heldout_episodes(face_set, batch_size: int, k_refs: int,
                     seed: int = EVAL_SEED) -> tf.data.Dataset:
  """Endless batches of held-out episodes, the same ones for the same seed.

  No flips: an evaluation compares outputs with the photos as they are.
  """
  return episodes.make_episode_dataset(
      face_set, batch_size, k_refs, shuffle=True, flip=False, repeat=True,
      seed=seed)


def swap_partners(identity: np.ndarray) -> np.ndarray:
  """For each row, the next row (cyclically) of a different identity, or -1."""
  n = len(identity)
  partners = np.full(n, -1)
  for i in range(n):
    for step in range(1, n):
      j = (i + step) % n
      if identity[j] != identity[i]:
        partners[i] = j
        break
  return partners


def region_colour(images: np.ndarray, masks: np.ndarray,
                  cls: int) -> np.ndarray:
  """Mean RGB of class `cls` per image; NaN where the class is absent."""
  sel = (masks == cls)[..., None].astype(np.float32)
  count = sel.sum(axis=(1, 2))
  with np.errstate(invalid="ignore", divide="ignore"):
    return (images * sel).sum(axis=(1, 2)) / count


def class_colour_error(output: np.ndarray, target: np.ndarray,
                       masks: np.ndarray, label_nc: int,
                       classes: Sequence[str] = ()) -> Dict[str, float]:
  """Class name -> mean RGB distance (on [-1, 1]) of the region's colour.

  The region is the class's pixels in `masks` (the target's parsing map),
  in both images. Averaged over the images that show the class; classes no
  image shows are left out, as are those not in `classes` when given.
  """
  errors = {}
  for cls in range(label_nc):
    name = layout.CLASS_NAMES[cls]
    if classes and name not in classes:
      continue
    gap = np.linalg.norm(region_colour(output, masks, cls) -
                         region_colour(target, masks, cls), axis=1)
    if np.isfinite(gap).any():
      errors[name] = float(np.nanmean(gap))
  return errors


def baseline_results(per: Dict[str, List[Dict]], count_name: str,
                     count: int) -> Dict:
  """Per-batch image metrics of the model and its baselines -> results.

  Args:
    per: row name ("model", then each baseline, e.g. "mean_train_photo")
      -> its `image.image_metrics` of every batch.
    count_name: the key the number of evaluated examples is reported under.
    count: that number.

  Returns:
    Each row's metrics averaged over the batches, the count, and the
    model's PSNR gain over each baseline as `psnr_gain_db_vs_<row>`.
  """
  results = {name: image.mean_over_batches(rows)
             for name, rows in per.items()}
  results[count_name] = count
  for name in per:
    if name != "model":
      results[f"psnr_gain_db_vs_{name}"] = (results["model"]["psnr"] -
                                            results[name]["psnr"])
  return results


def select(results: Dict, names: Sequence[str],
           owner: Callable[[str], str] = lambda key: "psnr") -> Dict:
  """Held-out `results` cut to the measures in `names`.

  Each image-metrics section (the model, a baseline) keeps the columns of
  the measures asked for (COLUMNS), the example count stays, and any other
  key stays when `names` has its measure, `owner(key)`.
  """
  out = {}
  for key, value in results.items():
    if key in COUNTS:
      out[key] = value
    elif isinstance(value, dict) and value and set(value) <= set(COLUMNS):
      kept = {c: v for c, v in value.items() if COLUMNS[c] in names}
      if kept:
        out[key] = kept
    elif owner(key) in names:
      out[key] = value
  return out
