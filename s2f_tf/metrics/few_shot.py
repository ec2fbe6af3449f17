"""Few-shot evaluation on held-out identities, against two honest baselines.

The model must do better than (a) itself with the references of *another*
held-out person (so it really uses the references, not just the sketch) and
(b) the mean training photo (so it beats the trivial answer). We also measure
whether swapping the references moves skin and hair colour of the output
toward the new person, using the parsing masks to find those regions.
"""

from typing import Callable, Dict

import numpy as np

from s2f_tf.data import layout
from s2f_tf.metrics import heldout
from s2f_tf.metrics import image

SKIN, HAIR = layout.CLASS_NAMES.index("skin"), layout.CLASS_NAMES.index("hair")
MIN_COLOUR_GAP = 0.3  # RGB distance on [-1, 1] between two people's regions.
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

def _toward_new(output, swapped, masks, photo, partner_masks, partner_photo,
                cls):
  """Per row: did swapping the references move the region's colour toward
  the new person's? (distance to the new colour shrank).

  Rows where the two people's colours differ by less than MIN_COLOUR_GAP
  are left out: there, "toward" is a coin toss whatever the model does.
  """
  colour = heldout.region_colour
  new_c = colour(partner_photo, partner_masks, cls)
  own_c = colour(photo, masks, cls)
  before = np.linalg.norm(colour(output, masks, cls) - new_c, axis=1)
  after = np.linalg.norm(colour(swapped, masks, cls) - new_c, axis=1)
  gap = np.linalg.norm(own_c - new_c, axis=1)
  valid = np.isfinite(before) & np.isfinite(after) & (gap >= MIN_COLOUR_GAP)
  return (after[valid] < before[valid]).tolist()


def heldout_metrics(generate: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    heldout_set, mean_train_photo: np.ndarray,
                    batch_size: int, k_refs: int, max_episodes: int,
                    seed: int = heldout.EVAL_SEED) -> Dict:
  """Runs `generate(sketch, refs)` over held-out episodes; returns metrics.

  The same `seed` draws the same episodes, so two calls on the same weights
  (the loop's final evaluation and `s2f-eval`) give the same numbers.
  """
  dataset = heldout.heldout_episodes(heldout_set, batch_size, k_refs, seed)
  per = {"model": [], "other_identity_style": [], "mean_train_photo": []}
  toward = {"skin": [], "hair": []}
  seen = 0
  for batch in dataset:
    if seen >= max_episodes:
      break
    b = {k: v.numpy() for k, v in batch.items()}
    partners = heldout.swap_partners(b["identity"])
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
  results = heldout.baseline_results(per, "episodes", seen)
  results["style_swap_toward_new_refs"] = {
      name: float(np.mean(v)) if v else float("nan")
      for name, v in toward.items()}
  return results
