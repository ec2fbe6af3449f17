r"""SEAN vs SPADE vs CLADE vs pix2pixHD (label map -> face) at equal wall time.

  python tools/compare_label2face.py --seconds=300 --out=runs/compare_l2f

Trains, one after the other through `s2f-train`, SEAN
(flags/label2face_demo.cfg), SPADE + VAE and CLADE + VAE (the same preset
with --norm_mode=spade|clade --use_vae, as the README's commands) and
pix2pixHD (flags/pix2pixhd_demo.cfg), each for --seconds from the start of
its s2f-train (start-up and tracing included); then SIGTERM, which saves a
checkpoint at the next step (tools/timed_training.py). `s2f-eval` scores
each checkpoint (the EMA generator) on held-out people: PSNR, SSIM, SWD and
the per-class colour error, beside the mean training photo and the model
fed another person's references. Prints one Markdown table, headed by the
CPU, the cores, the load average before and after and the date, so a
pasted table names its machine. The synthetic set is generated first if
missing, untimed.

  python tools/compare_label2face.py --models=sean,pix2pixhd --seconds=40 \
      --extra=--base_channels=4 --extra=--eval_episodes=16 --out=/tmp/l2f

--extra (repeatable) goes to every s2f-train, after the preset's flags.
"""

import dataclasses
import datetime
import os
import sys

from absl import app
from absl import flags
import numpy as np

from s2f_tf.cli import common

common.quiet_tensorflow()

# pylint: disable=g-import-not-at-top,g-bad-import-order
from s2f_tf import flags as s2f_flags
from s2f_tf import precision as precision_lib
from s2f_tf import tasks
from s2f_tf.data import reader
from s2f_tf.report import curves
import timed_training  # tools/, beside this file
# pylint: enable=g-import-not-at-top,g-bad-import-order

REPO = timed_training.REPO
# --models name -> (table name, preset in flags/, flags after the preset).
MODELS = {
    "sean": ("SEAN", "label2face_demo", ()),
    "spade": ("SPADE + VAE", "label2face_demo",
              ("--norm_mode=spade", "--use_vae")),
    "clade": ("CLADE + VAE", "label2face_demo",
              ("--norm_mode=clade", "--use_vae")),
    "pix2pixhd": ("pix2pixHD", "pix2pixhd_demo", ()),
}
COLOUR_CLASSES = ("skin", "hair", "background")  # The table's colour columns.
METRICS = "psnr,ssim,class_colour,swd"

FLAGS = flags.FLAGS


def _define_flags() -> None:
  """Defined only when run, so that tests can import the table's pieces
  beside other tools whose flags share these names."""
  flags.DEFINE_integer("seconds", 300, "Wall time per model, from the start "
                       "of its s2f-train.")
  flags.DEFINE_list("models", list(MODELS),
                    f"A subset of {', '.join(MODELS)}, in order.")
  flags.DEFINE_multi_string("extra", [], "A flag for every s2f-train, e.g. "
                            "--extra=--batch_size=4 (repeat for more).")
  flags.DEFINE_string("out", "runs/compare_label2face", "Holds one workdir "
                      "per model; must not hold theirs yet (s2f-train would "
                      "resume them).")
  flags.DEFINE_integer("log_every", 25, "Steps between logged events, whose "
                       "times give step ms.")


def _preset_args(model: str, workdir: str) -> list:
  _, preset, model_flags = MODELS[model]
  return [f"--flagfile={REPO}/flags/{preset}.cfg", *model_flags,
          f"--workdir={workdir}", "--noeval_at_end",
          f"--log_every={FLAGS.log_every}", *FLAGS.extra]


def _ensure_data(model: str) -> None:
  """Generates the preset's synthetic set if missing, before any clock."""
  values = flags.FlagValues()
  s2f_flags.define_config_flags(values)
  values(["s2f-train", *_preset_args(model, "unused")], known_only=True)
  data = s2f_flags.config_from_flags(values).data
  # s2f-train runs in the repository: a relative root is relative to it.
  reader.ensure_face_set(dataclasses.replace(
      data, root=os.path.join(REPO, data.root)))


def step_ms(workdir: str) -> float:
  """Milliseconds per step between the first and the last logged step.

  From the times of the run's own `train/` events, so start-up and tracing
  (before the first log) are left out; NaN with fewer than two logs.
  """
  logdir = os.path.join(workdir, "train")
  logged = curves.read_curves(logdir).values() if os.path.isdir(logdir) else ()
  curve = max(logged, key=lambda c: len(c.steps), default=None)
  if curve is None or len(curve.steps) < 2:
    return float("nan")
  return 1e3 * float((curve.wall_times[-1] - curve.wall_times[0]) /
                     (curve.steps[-1] - curve.steps[0]))


def table_row(name: str, results: dict, ms: float, g_params: int) -> str:
  """One model's Markdown row from its s2f-eval results."""
  colour = results["class_colour_error"]
  cells = [name, f"{results['step']:,}",
           "n/a" if np.isnan(ms) else f"{ms:.0f}", f"{g_params:,}",
           f"{results['model']['psnr']:.2f}", f"{results['model']['ssim']:.3f}",
           f"{results['swd']['x1e3_avg']:.1f}",
           *(f"{colour[c]:.3f}" if c in colour else "n/a"
             for c in COLOUR_CLASSES),
           f"{results['psnr_gain_db_vs_other_identity_refs']:+.2f} / "
           f"{results['psnr_gain_db_vs_mean_train_photo']:+.2f}"]
  return "| " + " | ".join(cells) + " |"


def table(rows, mean_photo_psnr: float) -> str:
  """The Markdown table: a header, `rows` and the mean photo's PSNR."""
  header = ("| model | steps | step ms | G params | PSNR (dB) | SSIM | "
            "SWD x1e3 | " + " | ".join(f"{c} colour err" for c in
                                         COLOUR_CLASSES) +
            " | PSNR gain vs other refs / mean photo (dB) |")
  align = "|---|" + "---:|" * (7 + len(COLOUR_CLASSES))
  return "\n".join([header, align, *rows, "", "The mean training photo "
                    f"scores {mean_photo_psnr:.2f} dB on the same people."])


def _g_params(workdir: str) -> int:
  return tasks.restore(workdir)[1].count_params()


def main(argv):
  del argv
  unknown = [m for m in FLAGS.models if m not in MODELS]
  if unknown or not FLAGS.models:
    raise app.UsageError(f"--models: no {', '.join(unknown) or 'model'}; "
                         f"choose from {', '.join(MODELS)}")
  workdirs = {m: os.path.join(os.path.abspath(FLAGS.out), m)
              for m in FLAGS.models}
  taken = [w for w in workdirs.values() if os.path.exists(w)]
  if taken:
    raise app.UsageError(f"{taken[0]} exists (s2f-train would resume it): "
                         "remove it or choose another --out")
  for model in FLAGS.models:
    _ensure_data(model)
  load_before = os.getloadavg()[0]
  date = datetime.datetime.now(datetime.timezone.utc).strftime(
      "%Y-%m-%d %H:%M UTC")
  rows = []
  for model, workdir in workdirs.items():
    try:
      timed_training.run_for(
          timed_training.train_command(*_preset_args(model, workdir)),
          FLAGS.seconds, model)
      results = timed_training.evaluate(workdir, f"--metrics={METRICS}")
    except RuntimeError as e:  # The run's own error and its log's end.
      sys.exit(f"compare_label2face: {e}")
    rows.append(table_row(MODELS[model][0], results, step_ms(workdir),
                          _g_params(workdir)))
  load_after = os.getloadavg()[0]
  print(f"\n{precision_lib.cpu_description()}, {os.cpu_count()} cores; "
        f"load {load_before:.2f} before, {load_after:.2f} after; {date}. "
        f"{FLAGS.seconds} s of s2f-train each from its start, one after "
        f"another; {results['examples']} held-out episodes; "
        f"extra flags: {' '.join(FLAGS.extra) or 'none'}.\n")
  print(table(rows, results["mean_train_photo"]["psnr"]))


if __name__ == "__main__":
  _define_flags()
  app.run(main)
