"""Few-shot evaluation on held-out identities, against two honest baselines.

The model must do better than (a) itself with the references of *another*
held-out person (so it really uses the references, not just the sketch) and
(b) the mean training photo (so it beats the trivial answer). We also measure
whether swapping the references moves skin and hair colour of the output
toward the new person, using the parsing masks to find those regions.
"""

from typing import Callable, Dict, Sequence

import numpy as np

from s2f_tf import pixels
from s2f_tf.data import episodes
from s2f_tf.data import layout
from s2f_tf.metrics import image

SKIN, HAIR = layout.CLASS_NAMES.index("skin"), layout.CLASS_NAMES.index("hair")
MIN_COLOUR_GAP = 0.3  # RGB distance on [-1, 1] between two people's regions.
EVAL_SEED = 1234  # Draws the held-out episodes: the same ones every time.
# Episodes per evaluation batch. References and swap partners are drawn per
# batch, so the episodes depend on it: fixed here rather than taken from the
# training batch, a run's metrics stay comparable when only --batch_size
# changes.
EVAL_BATCH = 8
# The task's --metrics names (s2f_tf.metrics.registry has the stream ones).
MEASURES = {
    "psnr": "held-out L1 and PSNR of the model and both baselines, its PSNR "
            "gains over them, and whether swapped references move skin and "
            "hair colour toward the new person",
    "ssim": "held-out SSIM of the model and both baselines",
}
# The measure each column of `image.image_metrics` belongs to.
COLUMNS = {"l1": "psnr", "psnr": "psnr", "ssim": "ssim"}
COUNTS = ("episodes", "examples")  # Kept with any measure.


def mean_photo(face_set) -> np.ndarray:
  """The mean training photo in [-1, 1]: the trivial baseline."""
  return pixels.to_unit(face_set.photos.astype(np.float32).mean(axis=0))


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


def region_colour(images: np.ndarray, masks: np.ndarray, cls: int) -> np.ndarray:
  """Mean RGB of class `cls` per image; NaN where the class is absent."""
  sel = (masks == cls)[..., None].astype(np.float32)
  count = sel.sum(axis=(1, 2))
  with np.errstate(invalid="ignore", divide="ignore"):
    return (images * sel).sum(axis=(1, 2)) / count


def _toward_new(output, swapped, masks, photo, partner_masks, partner_photo,
                cls):
  """Per row: did swapping the references move the region's colour toward
  the new person's? (distance to the new colour shrank).

  Rows where the two people's colours differ by less than MIN_COLOUR_GAP
  are left out: there, "toward" is a coin toss whatever the model does.
  """
  new_c = region_colour(partner_photo, partner_masks, cls)
  own_c = region_colour(photo, masks, cls)
  before = np.linalg.norm(region_colour(output, masks, cls) - new_c, axis=1)
  after = np.linalg.norm(region_colour(swapped, masks, cls) - new_c, axis=1)
  gap = np.linalg.norm(own_c - new_c, axis=1)
  valid = np.isfinite(before) & np.isfinite(after) & (gap >= MIN_COLOUR_GAP)
  return (after[valid] < before[valid]).tolist()


def heldout_metrics(generate: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    heldout_set, mean_train_photo: np.ndarray,
                    batch_size: int, k_refs: int, max_episodes: int,
                    seed: int = EVAL_SEED) -> Dict:
  """Runs `generate(sketch, refs)` over held-out episodes; returns metrics.

  The same `seed` draws the same episodes, so two calls on the same weights
  (the loop's final evaluation and `s2f-eval`) give the same numbers.
  """
  dataset = episodes.make_episode_dataset(
      heldout_set, batch_size, k_refs, shuffle=True, flip=False, repeat=True,
      seed=seed)
  per = {"model": [], "other_identity_style": [], "mean_train_photo": []}
  toward = {"skin": [], "hair": []}
  seen = 0
  for batch in dataset:
    if seen >= max_episodes:
      break
    b = {k: v.numpy() for k, v in batch.items()}
    partners = swap_partners(b["identity"])
    valid = partners >= 0
    swapped_refs = b["refs"][np.where(valid, partners, 0)]
    output = generate(b["sketch"], b["refs"])
    swapped = generate(b["sketch"], swapped_refs)
    mean = np.broadcast_to(mean_train_photo, b["photo"].shape)
    per["model"].append(image.image_metrics(output, b["photo"]))
    per["other_identity_style"].append(
        image.image_metrics(swapped[valid], b["photo"][valid]))
    per["mean_train_photo"].append(image.image_metrics(mean, b["photo"]))
    p = partners[valid]
    for name, cls in (("skin", SKIN), ("hair", HAIR)):
      toward[name] += _toward_new(output[valid], swapped[valid],
                                  b["mask"][valid], b["photo"][valid],
                                  b["mask"][p], b["photo"][p], cls)
    seen += len(b["photo"])
  results = {name: image.mean_over_batches(rows)
             for name, rows in per.items()}
  results["episodes"] = seen
  for base in ("other_identity_style", "mean_train_photo"):
    results[f"psnr_gain_db_vs_{base}"] = (results["model"]["psnr"] -
                                          results[base]["psnr"])
  results["style_swap_toward_new_refs"] = {
      name: float(np.mean(v)) if v else float("nan")
      for name, v in toward.items()}
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
