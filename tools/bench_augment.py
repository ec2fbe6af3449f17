r"""Small-data training with and without --augment, by SWD to held-out faces.

  python tools/bench_augment.py --steps=3000 --out=runs/bench_augment

Issue 26's benchmark. From the synthetic faces (--data_root, made if
missing) it holds out --eval_images photos, writes nested training subsets
of --sizes photos (100 and 1,000) as PNG folders, and trains each preset
of --models on each subset with each --augments value through `s2f-train`
(--image_folder), all for the same --steps. Each run's generator (EMA) then
draws --eval_images samples from seeded noise, scored by SWD against the
held-out photos. Two rows frame the table: the floor, SWD of as many other
real photos (what a perfect generator scores), and each subset itself
repeated (what a generator that memorised its training set scores).

Every run trains in a child process, one after another; on the 2-core CPU
that is hours at the defaults, so run it alone on the machine.
"""

import itertools
import os
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np
from PIL import Image
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import pixels
from s2f_tf import tasks
from s2f_tf.data import folder
from s2f_tf.data import reader
from s2f_tf.metrics import distribution

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_OUT = flags.DEFINE_string("out", "runs/bench_augment", "Subsets and runs.")
_DATA_ROOT = flags.DEFINE_string(
    "data_root", os.path.join(REPO, "data/synth_faces"),
    "The face set the subsets come from (synthesized when missing).")
_SIZES = flags.DEFINE_list("sizes", ["100", "1000"], "Training set sizes.")
_MODELS = flags.DEFINE_list("models", ["stylegan2_demo", "lightweight_demo"],
                            "Presets in flags/ to train.")
_AUGMENTS = flags.DEFINE_list("augments", ["none", "diffaug", "ada"],
                              "--augment values to train each with.")
_STEPS = flags.DEFINE_integer("steps", 3000, "Training steps of every run.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 32, "Resolution of all.")
_EVAL_IMAGES = flags.DEFINE_integer("eval_images", 512,
                                    "Held-out photos, and samples, per SWD.")
_TRAIN_FLAGS = flags.DEFINE_list(
    "train_flags", [], "More s2f-train flags for every run, e.g. "
    "--base_channels=4 for a quick check of this script.")
_ADA_FLAGS = flags.DEFINE_list(
    "ada_flags", [], "More s2f-train flags for the --augment=ada runs only "
    "(s2f-train refuses ADA's flags on the others), e.g. --ada_kimg=100: at "
    "the paper's 500, p can rise by at most 0.1 in a 3,000-step run of "
    "batch 16.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the split and the noise.")

BATCH = 64  # Images per SWD update.


def _photos() -> np.ndarray:
  """Every photo of --data_root at --image_size, shuffled by --seed."""
  reader.ensure_face_set(config_lib.DataConfig(root=_DATA_ROOT.value,
                                               synthesize=True))
  images, _ = folder.load_images(_DATA_ROOT.value, _IMAGE_SIZE.value)
  return images[np.random.RandomState(_SEED.value).permutation(len(images))]


def _write_subset(images: np.ndarray, path: str) -> str:
  os.makedirs(path, exist_ok=True)
  for i, image in enumerate(images):
    Image.fromarray(image).save(os.path.join(path, f"{i:05d}.png"))
  return path


def _train(preset: str, subset: str, augment: str, workdir: str) -> None:
  command = [sys.executable, "-m", "s2f_tf.cli.train_main",
             f"--flagfile={REPO}/flags/{preset}.cfg", f"--workdir={workdir}",
             f"--image_folder={subset}", f"--augment={augment}",
             f"--image_size={_IMAGE_SIZE.value}", f"--steps={_STEPS.value}",
             "--noeval_at_end", *_TRAIN_FLAGS.value,
             *(_ADA_FLAGS.value if augment == "ada" else ())]
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
  if result.returncode:
    raise RuntimeError(f"{workdir}: exit {result.returncode}: "
                       f"{result.stderr[-800:]}")


def _swd(real: np.ndarray, fake: np.ndarray) -> float:
  """SWD x1e3 (average over levels) of two uint8 sets of one size."""
  batches = [(real[i:i + BATCH], fake[i:i + BATCH])
             for i in range(0, len(real), BATCH)]
  return distribution.evaluate(batches, distribution.Options(
      metrics=("swd",)))["swd"]["x1e3_avg"]


def _samples(workdir: str, count: int) -> np.ndarray:
  """uint8 samples of the run's EMA generator from seeded noise."""
  task, generator, _ = tasks.restore(workdir)
  sample = task.make_sampler(generator)
  z = np.random.RandomState(_SEED.value + 1).randn(
      count, task.config.family.z_dim).astype(np.float32)
  return np.concatenate([pixels.to_uint8(np.asarray(sample(tf.constant(
      z[i:i + BATCH])))) for i in range(0, count, BATCH)])


def main(argv):
  del argv
  sizes = sorted(int(s) for s in _SIZES.value)
  count = _EVAL_IMAGES.value
  photos = _photos()
  if len(photos) < 2 * count + sizes[-1]:
    raise app.UsageError(
        f"{_DATA_ROOT.value} has {len(photos)} photos; --eval_images="
        f"{count} twice and --sizes up to {sizes[-1]} need "
        f"{2 * count + sizes[-1]}")
  out = os.path.abspath(_OUT.value)  # The runs start in REPO.
  held_out, other = photos[:count], photos[count:2 * count]
  train_pool = photos[2 * count:]
  rows = [("real photos (floor)", "", "", _swd(held_out, other))]
  for size in sizes:
    repeated = np.resize(train_pool[:size], held_out.shape)
    rows.append((f"the {size} training photos", size, "",
                 _swd(held_out, repeated)))
  for preset, size, augment in itertools.product(_MODELS.value, sizes,
                                                 _AUGMENTS.value):
    subset = os.path.join(out, "data", f"train_{size}")
    if not os.path.isdir(subset):
      _write_subset(train_pool[:size], subset)
    workdir = os.path.join(out, f"{preset}_{size}_{augment}")
    _train(preset, subset, augment, workdir)
    rows.append((preset, size, augment,
                 _swd(held_out, _samples(workdir, count))))
  print(f"\n{_STEPS.value} steps each, {_IMAGE_SIZE.value} px; SWD x1e3 "
        f"(average over levels, lower is better) against {count} held-out "
        "photos.")
  print("\n| model | training photos | --augment | SWD |")
  print("|---|---:|---|---:|")
  for model, size, augment, swd in rows:
    print(f"| {model} | {size} | {augment} | {swd:.1f} |")


if __name__ == "__main__":
  app.run(main)
