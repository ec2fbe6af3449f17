r"""U-GAT-IT-light vs CycleGAN vs the identity mapping, at equal training time.

  python tools/compare_unpaired.py --out=runs/compare_unpaired

Trains `flags/unpaired_demo.cfg` (U-GAT-IT-light, 64 px) to its last step
through `s2f-train`, then CycleGAN (`--model=cyclegan --n_res=6`, everything
else the same preset, its learning rate constant) for exactly as long: each run's training time is from
its `config.json` (written after start-up) to its last checkpoint, and
CycleGAN gets SIGTERM when it has trained that long (it saves at the next
step and exits 143). `s2f-eval --metrics=hidden_pair,swd` then scores both
the same way, and the identity mapping (the input returned unchanged) is
scored beside them: hidden-pair PSNR against each test person's true
rendering in the other domain, and SWD between the translations and the
other domain's real test images. Prints a Markdown table per direction and
names the CPU, the load and the date.

  python tools/compare_unpaired.py --ugatit_run=runs/unpaired_demo  # reuse

`--ugatit_run` reuses a finished run of the preset (its eval.json is
recomputed the same way as CycleGAN's); the synthetic set is generated
first if missing, untimed.
"""

import datetime
import json
import os
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np

from s2f_tf import precision as precision_lib
from s2f_tf.data import domains
from s2f_tf.metrics import distribution
import timed_training  # tools/, beside this file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESET = os.path.join(REPO, "flags", "unpaired_demo.cfg")
# CycleGAN at <= 128 px (6 blocks); its step count is not known in advance,
# so its learning rate stays constant (no decay over a last stretch).
CYCLEGAN_FLAGS = ("--model=cyclegan", "--nolight", "--n_res=6",
                  "--lr_decay_steps=0")
DIRECTIONS = ("a2b", "b2a")

_OUT = flags.DEFINE_string("out", "runs/compare_unpaired", "Workdirs.")
_DATA_ROOT = flags.DEFINE_string("data_root", "data/synth_anime",
                                 "The synthetic unpaired set (generated if "
                                 "missing).")
_UGATIT_RUN = flags.DEFINE_string("ugatit_run", "", "A finished run of the "
                                  "preset to reuse; empty: train one.")
_EVAL_IMAGES = flags.DEFINE_integer("eval_images", 120, "Test images per "
                                    "direction (the preset's eval_episodes).")


def _train_seconds(workdir: str) -> float:
  """config.json to the newest checkpoint file: the training, start-up and
  the final evaluation left out."""
  checkpoints = os.path.join(workdir, "checkpoints")
  newest = max(os.stat(os.path.join(checkpoints, name)).st_mtime
               for name in os.listdir(checkpoints))
  return newest - os.stat(os.path.join(workdir, "config.json")).st_mtime


def _train(workdir: str, extra, seconds=None) -> None:
  """Trains to the preset's end, or for `seconds` after config.json."""
  args = (f"--flagfile={PRESET}", f"--workdir={workdir}",
          f"--data_root={_DATA_ROOT.value}", "--noeval_at_end", *extra)
  if seconds is None:
    subprocess.run([*timed_training.TRAIN, *args], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return
  timed_training.run_for(
      timed_training.train_command(*args), seconds, workdir,
      clock_file=os.path.join(workdir, "config.json"))


def _identity_swd(image_size: int) -> dict:
  """Per direction, SWD x1e3 of the untranslated inputs against the other
  domain's real test images, batched as the evaluation's streams are."""
  pairs = domains.load_test_pairs(_DATA_ROOT.value, image_size)
  results = {}
  for direction in DIRECTIONS:
    other = "b2a" if direction == "a2b" else "a2b"
    inputs = pairs[direction].inputs.images[:_EVAL_IMAGES.value]
    real = pairs[other].inputs.images
    rows = np.arange(len(inputs))
    batches = [(real[rows[s:s + 64] % len(real)], inputs[s:s + 64])
               for s in range(0, len(inputs), 64)]
    results[direction] = distribution.evaluate(
        batches, distribution.Options(metrics=("swd",)))["swd"]["x1e3_avg"]
  return results


def _ensure_data() -> None:
  if not os.path.isdir(os.path.join(_DATA_ROOT.value, "testA")):
    subprocess.run([sys.executable, "-m", "s2f_tf.cli.data_main", "synth",
                    "--style=anime", f"--out={_DATA_ROOT.value}",
                    "--identities=200", "--per_identity=12", "--size=128",
                    "--test_fraction=0.1", "--seed=0"],
                   cwd=REPO, check=True)


def main(argv):
  del argv
  os.makedirs(_OUT.value, exist_ok=True)
  _ensure_data()
  load_before, date = os.getloadavg()[0], datetime.datetime.now(
      datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  ugatit = _UGATIT_RUN.value or os.path.join(_OUT.value, "ugatit_light")
  if not _UGATIT_RUN.value:
    _train(ugatit, ())
  seconds = _train_seconds(ugatit)
  cyclegan = os.path.join(_OUT.value, "cyclegan")
  _train(cyclegan, CYCLEGAN_FLAGS, seconds)
  metrics = ("--metrics=hidden_pair,swd",
             f"--max_episodes={_EVAL_IMAGES.value}")
  results = {"U-GAT-IT-light": timed_training.evaluate(ugatit, *metrics),
             "CycleGAN": timed_training.evaluate(cyclegan, *metrics)}
  with open(os.path.join(ugatit, "config.json"), encoding="utf-8") as f:
    image_size = json.load(f)["data"]["image_size"]
  identity_swd = _identity_swd(image_size)
  load_after = os.getloadavg()[0]
  print(f"\n{precision_lib.cpu_description()}, {os.cpu_count()} cores; "
        f"load {load_before:.2f} before, {load_after:.2f} after;"
        f" {date}. Training time each (config.json to last checkpoint): "
        f"U-GAT-IT-light {seconds:.0f} s, CycleGAN "
        f"{_train_seconds(cyclegan):.0f} s; {image_size} px; "
        f"{_EVAL_IMAGES.value} held-out people's images per direction.")
  for direction in DIRECTIONS:
    print(f"\n{direction} | steps | hidden-pair PSNR (dB) | L1 | SSIM | "
          "SWD x1e3 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
      model = result["hidden_pair"][direction]["model"]
      swd = result[direction]["swd"]["x1e3_avg"]
      print(f"| {name} | {result['step']} | {model['psnr']:.2f} | "
            f"{model['l1']:.4f} | {model['ssim']:.4f} | {swd:.1f} |")
    identity = results["CycleGAN"]["hidden_pair"][direction]["identity"]
    print(f"| identity mapping | | {identity['psnr']:.2f} | "
          f"{identity['l1']:.4f} | {identity['ssim']:.4f} | "
          f"{identity_swd[direction]:.1f} |")


if __name__ == "__main__":
  app.run(main)
