r"""DCGAN vs WGAN-clip vs WGAN-GP vs LightweightGAN vs StyleGAN2 at equal wall time, by SWD.

  python tools/compare_unconditional.py --seconds=150 --out=runs/compare

Each model trains through `s2f-train` from its preset (at --image_size, on
the synthetic faces unless --image_folder) until --seconds have passed since
its start; then it gets SIGTERM, which saves a checkpoint at the next step
and exits (exit 143). `s2f-eval --metrics=swd` scores the saved EMA (or raw)
generator against the training images, and the last sample grid of each run
goes side by side into one picture. Prints a Markdown table whose last row
is the floor: SWD between two disjoint sets of training images of the same
size, what a perfect generator would score.

  python tools/compare_unconditional.py --models= --out=runs/compare  # floor
"""

import os
import time

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from s2f_tf import config as config_lib
from s2f_tf import pixels
from s2f_tf import tasks
from s2f_tf.metrics import distribution
import timed_training  # tools/, beside this file

_SECONDS = flags.DEFINE_integer("seconds", 150, "Wall time per model, from "
                                "the start of s2f-train (start-up included).")
_OUT = flags.DEFINE_string("out", "runs/compare", "Workdirs and the picture.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 32, "Resolution of all.")
_EVAL_IMAGES = flags.DEFINE_integer("eval_images", 512, "Images per SWD set.")
_MODELS = flags.DEFINE_list(
    "models", ["dcgan_faces64", "wgan_clip_faces64", "wgan_gp_faces64",
               "lightweight_demo", "stylegan2_demo"],
    "Presets in flags/ to compare.")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(preset: str, workdir: str) -> int:
  """Trains until the time is up; returns the step it stopped at."""
  timed_training.run_for(timed_training.train_command(
      f"--flagfile={REPO}/flags/{preset}.cfg", f"--workdir={workdir}",
      f"--image_size={_IMAGE_SIZE.value}", "--noeval_at_end",
      "--image_every=25", "--log_every=25"), _SECONDS.value, preset)
  grids = sorted(os.listdir(os.path.join(workdir, "samples")))
  return int(grids[-1][len("step_"):-len(".png")]) if grids else 0


def _last_grid(workdir: str) -> np.ndarray:
  samples = os.path.join(workdir, "samples")
  with Image.open(os.path.join(samples, sorted(os.listdir(samples))[-1])) as im:
    return np.asarray(im.convert("RGB"))


def _real_floor() -> dict:
  """SWD of training images against as many other training images.

  The presets' data at --image_size; the first epoch of the shuffled set
  has no repeats, so the two halves are disjoint.
  """
  count = _EVAL_IMAGES.value
  config = config_lib.with_task(config_lib.Config(
      data=config_lib.DataConfig(root=os.path.join(REPO, "data/synth_faces"),
                                 synthesize=True,
                                 image_size=_IMAGE_SIZE.value),
      train=config_lib.TrainConfig(batch_size=64)), "unconditional", "dcgan")
  images, held = [], 0
  for batch in tasks.make_task(config).make_dataset():
    images.append(pixels.to_uint8(batch["image"].numpy()))
    held += len(images[-1])
    if held >= 2 * count:
      break
  images = np.concatenate(images)[:2 * count]
  halves = [(images[i:i + 64], images[count + i:count + i + 64])
            for i in range(0, count, 64)]
  return distribution.evaluate(
      halves, distribution.Options(metrics=("swd",)))["swd"]


def main(argv):
  del argv
  os.makedirs(_OUT.value, exist_ok=True)
  rows, grids = [], []
  for preset in _MODELS.value:
    workdir = os.path.join(_OUT.value, preset)
    start = time.time()
    last_grid_step = _train(preset, workdir)
    results = timed_training.evaluate(
        workdir, "--metrics=swd", f"--max_episodes={_EVAL_IMAGES.value}")
    rows.append((preset, results["step"], last_grid_step,
                 time.time() - start, results["swd"]))
    grids.append(_last_grid(workdir))
  if grids:
    height = max(g.shape[0] for g in grids)
    padded = [np.pad(g, ((0, height - g.shape[0]), (0, 8), (0, 0)),
                     constant_values=255) for g in grids]
    picture = os.path.join(_OUT.value, "grids.png")
    Image.fromarray(np.concatenate(padded, axis=1)).save(picture)
    print(f"\n{_SECONDS.value} s of s2f-train each (start-up included), "
          f"{_IMAGE_SIZE.value} px, SWD x1e3 on {_EVAL_IMAGES.value} images "
          "(lower is better); grids left to right in this order: " + picture)
  rows.append(("real images (floor)", "", "", 0.0, _real_floor()))
  print("\n| preset | steps | SWD avg | SWD per level |")
  print("|---|---:|---:|---|")
  for preset, step, _, _, swd in rows:
    sizes = sorted(int(k[len("x1e3_"):]) for k in swd
                   if k.startswith("x1e3_") and k != "x1e3_avg")
    levels = ", ".join(f"{size} px {swd[f'x1e3_{size}']:.1f}"
                       for size in sizes)
    print(f"| {preset} | {step} | {swd['x1e3_avg']:.1f} | {levels} |")


if __name__ == "__main__":
  app.run(main)
