"""Small run folders of each kind for the report and sampling tests, without
training.

Each holds what s2f-train writes (config.json, flags.cfg, eval.json, PNG
grids, progress.gif, TensorBoard events through tf.summary), in seconds.
"""

import json
import os
import socket

import numpy as np
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import summaries
from s2f_tf import workdir_lock

ESCAPE_ME = "faces/<b>bold</b>&co"  # A config value the HTML must escape.
# As the loop names them: by player ("d/", "g/").
FEW_SHOT_LOSSES = ("d/adv", "d/r1", "d/total", "g/adv", "g/fm", "g/l1",
                   "g/total", "g/output_std", "steps_per_second")
# As runs written before the player namespaces named them.
SPADE_LOSSES = ("D_real", "D_fake", "GAN", "GAN_Feat", "VGG", "KLD",
                "steps_per_second")


def write_events(workdir, names, steps, seed=0):
  """train/<name> scalars at `steps`, written the way the training loop does."""
  rng = np.random.default_rng(seed)
  writer = tf.summary.create_file_writer(os.path.join(workdir, "train"))
  for step in steps:
    summaries.write_scalars(writer, step, {
        n: float(np.exp(-step / 50) + 0.1 * rng.random()) for n in names},
                            prefix="train/")
  writer.close()


def write_grids(workdir, steps, gif=True):
  rng = np.random.default_rng(len(steps))
  paths = []
  for step in steps:
    path = os.path.join(workdir, "samples", f"step_{step:07d}.png")
    summaries.save_png(rng.integers(0, 255, (32, 96, 3), np.uint8), path)
    paths.append(path)
  if gif:
    summaries.write_gif(paths, os.path.join(workdir, "progress.gif"))


def write_json(workdir, name, value):
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, name), "w") as f:
    json.dump(value, f, indent=2)


def few_shot_eval(psnr):
  return {"model": {"l1": 0.2, "psnr": psnr, "ssim": 0.6},
          "other_identity_style": {"l1": 0.4, "psnr": psnr - 6, "ssim": 0.5},
          "mean_train_photo": {"l1": 0.38, "psnr": 13.4, "ssim": 0.5},
          "episodes": 16, "step": 40,
          "style_swap_toward_new_refs": {"hair": 0.5, "skin": float("nan")}}


def hold_lock(workdir, pid, host=None):
  """train.lock as s2f-train writes it, for process `pid` on `host`."""
  write_json(workdir, workdir_lock.LOCK_NAME,
             {"pid": pid, "host": host or socket.gethostname(),
              "started": "2026-12-07 00:00:00 UTC"})


def write_kinds(runs_dir):
  """Four runs and a non-run folder; returns {kind: workdir}."""
  tiny = config_lib.tiny_config(root=ESCAPE_ME, steps=40).to_dict()
  made = {k: os.path.join(runs_dir, k) for k in (
      "few_shot", "dcgan_wgan", "label_map", "broken")}
  # Few-shot, finished and evaluated: every part present.
  write_json(made["few_shot"], "config.json", tiny)
  with open(os.path.join(made["few_shot"], "flags.cfg"), "w") as f:
    f.write("--steps=40\n--data_root=faces/<b>bold</b>&co\n")
  write_events(made["few_shot"], FEW_SHOT_LOSSES, range(5, 41, 5))
  write_grids(made["few_shot"], [10, 20, 30, 40])
  write_json(made["few_shot"], "eval.json", few_shot_eval(18.5))
  # Unconditional WGAN, still training: no eval.json, no GIF yet.
  dcgan = config_lib.with_task(config_lib.tiny_config(
      root=ESCAPE_ME, steps=40, gan_loss="wgan", n_critic=5), "unconditional",
                               "dcgan").to_dict()
  write_json(made["dcgan_wgan"], "config.json", dcgan)
  write_events(made["dcgan_wgan"], ("d_adv", "g_adv", "output_std"),
               range(5, 21, 5), seed=1)
  write_grids(made["dcgan_wgan"], [10, 20], gif=False)
  hold_lock(made["dcgan_wgan"], os.getpid())  # This live process: running.
  # A later task (config with a `task` key) with SPADE-style loss names.
  spade = json.loads(json.dumps(tiny))
  spade["model"].update(task="label_map", model="spade")
  write_json(made["label_map"], "config.json", spade)
  write_events(made["label_map"], SPADE_LOSSES, range(5, 41, 5), seed=2)
  write_grids(made["label_map"], [20, 40])
  # Crashed while writing its config; nothing else.
  os.makedirs(os.path.join(made["broken"], "samples"))
  with open(os.path.join(made["broken"], "config.json"), "w") as f:
    f.write(json.dumps(tiny)[:50])
  os.makedirs(os.path.join(runs_dir, "notes"))
  with open(os.path.join(runs_dir, "notes", "todo.txt"), "w") as f:
    f.write("not a run\n")
  return made


def generator_workdir(config, generator, workdir):
  """A workdir holding `config` and `generator` as step 1's checkpoint, as
  s2f-train leaves it (for the tools that serve from a workdir)."""
  config_lib.save_config(config, workdir)
  checkpoint = tf.train.Checkpoint(
      generator=checkpointing.VariablesByPath(generator),
      step=tf.Variable(1, dtype=tf.int64))
  checkpointing.make_manager(checkpoint, workdir, keep=1).save(1)
  return workdir
