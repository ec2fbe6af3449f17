"""Label-map -> face evaluation on held-out identities.

The layout comes from the target's label map and the look from K other
photos of the same person, so the output can be compared with the target
photo itself. Two baselines keep the numbers honest: the mean training photo
(the trivial answer) and the same model fed another held-out person's
references (so a model that ignores its references cannot win).

Two measures look inside the label map's regions:
  class colour error  per class, the RGB distance between the region's mean
                      colour in the output and in the target
  region swap         (sean) one region's code, e.g. hair, taken from another
                      person's references: the mean change of the output
                      inside that region and outside it. Regional style
                      means a large change inside and a small one outside.
"""

from typing import Callable, Dict, Optional, Sequence

import numpy as np

from s2f_tf.data import layout
from s2f_tf.metrics import heldout
from s2f_tf.metrics import image

# generate(labels, refs, ref_labels, donor_refs, donor_ref_labels, swap,
# sketch=): numpy in, [-1, 1] images out; `swap` [B, L] marks regions whose
# code comes from the donors (None: no swap); `sketch` is the targets'
# (pix2pixHD --edge_source=sketch reads it as its boundary channel).
Generate = Callable[..., np.ndarray]
# The task's --metrics names; region_swap needs region codes (sean).
MEASURES = {
    "psnr": "held-out L1 and PSNR of the model and both baselines, and its "
            "PSNR gains over them",
    "ssim": "held-out SSIM of the model and both baselines",
    "class_colour": "per class, the RGB distance between the region's mean "
                    "colour in the output and in the target",
    "region_swap": "(sean) the output's mean change inside and outside the "
                   "hair region when its code comes from another person",
}


def region_change(output: np.ndarray, changed: np.ndarray, masks: np.ndarray,
                  cls: int):
  """(inside, outside): per image, mean |changed - output| over the pixels
  of class `cls` and over all other pixels; NaN where a side is empty."""
  diff = np.abs(changed - output).mean(axis=-1)
  inside = masks == cls
  with np.errstate(invalid="ignore", divide="ignore"):
    mean_in = (diff * inside).sum(axis=(1, 2)) / inside.sum(axis=(1, 2))
    mean_out = (diff * ~inside).sum(axis=(1, 2)) / (~inside).sum(axis=(1, 2))
  return mean_in, mean_out


def heldout_metrics(generate: Generate, heldout_set,
                    mean_train_photo: np.ndarray, batch_size: int,
                    k_refs: int, max_examples: int, label_nc: int,
                    swap_class: Optional[int] = None,
                    seed: int = heldout.EVAL_SEED,
                    class_colour: bool = True) -> Dict:
  """Runs `generate` over held-out episodes; returns nested float metrics.

  With `class_colour`, also the class colour error; with `swap_class`, the
  region-swap measure for that class.
  """
  dataset = heldout.heldout_episodes(heldout_set, batch_size, k_refs, seed)
  per = {"model": [], "other_identity_refs": [], "mean_train_photo": []}
  colour, change, seen = [], ([], []), 0
  for batch in dataset:
    if seen >= max_examples:
      break
    b = {k: v.numpy() for k, v in batch.items()}
    partners = heldout.swap_partners(b["identity"])
    donor = np.where(partners >= 0, partners, np.arange(len(partners)))
    valid = partners >= 0
    args = (b["mask"], b["refs"], b["ref_mask"])
    output = generate(*args, sketch=b["sketch"])
    other = generate(b["mask"], b["refs"][donor], b["ref_mask"][donor],
                     sketch=b["sketch"])
    per["model"].append(image.image_metrics(output, b["photo"]))
    per["other_identity_refs"].append(
        image.image_metrics(other[valid], b["photo"][valid]))
    mean = np.broadcast_to(mean_train_photo, b["photo"].shape)
    per["mean_train_photo"].append(image.image_metrics(mean, b["photo"]))
    if class_colour:
      colour.append((output, b["photo"], b["mask"]))
    if swap_class is not None:
      swap = np.zeros((len(donor), label_nc), np.float32)
      swap[:, swap_class] = 1.0
      swapped = generate(*args, b["refs"][donor], b["ref_mask"][donor], swap,
                         sketch=b["sketch"])
      for side, values in zip(change, region_change(
          output[valid], swapped[valid], b["mask"][valid], swap_class)):
        side.append(values)
    seen += len(b["photo"])
  results = heldout.baseline_results(per, "examples", seen)
  if class_colour:
    results["class_colour_error"] = heldout.class_colour_error(
        *(np.concatenate(parts) for parts in zip(*colour)), label_nc)
  if swap_class is not None:
    inside, outside = (float(np.nanmean(np.concatenate(c))) for c in change)
    results[f"region_swap_{layout.CLASS_NAMES[swap_class]}"] = {
        "change_inside": inside, "change_outside": outside,
        "inside_over_outside": inside / max(outside, 1e-8)}
  return results


def measure_of(key: str) -> str:
  """The MEASURES name a key of `heldout_metrics`' results belongs to."""
  if key == "class_colour_error":
    return "class_colour"
  return "region_swap" if key.startswith("region_swap_") else "psnr"


def select(results: Dict, names: Sequence[str]) -> Dict:
  """`heldout_metrics`' results cut to the measures in `names`."""
  return heldout.select(results, names, measure_of)
