"""Smoke-sized models for the s2f-serve tests, made without training.

A freshly initialised generator serves as well as a trained one for what
these tests check (status codes, messages, an image that follows its
inputs), and takes seconds instead of a training run.
"""

import base64
import dataclasses
import fcntl
import json
import os

import cv2
import numpy as np

import fake_runs
from s2f_tf import clusters
from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf import tasks


def _export(root, name, config):
  """A fresh generator of `config` as an export and as a run's checkpoint
  (what `--workdir` serves): (export version folder, workdir)."""
  task = tasks.make_task(config)
  generator = task.build_generator()
  return (export.export(task, generator, os.path.join(root, name)),
          fake_runs.generator_workdir(config, generator,
                                      os.path.join(root, f"{name}_run")))


def sketch2face(root, data_root):
  """A tiny few-shot model (16 px, K any)."""
  return _export(root, "sketch2face", config_lib.tiny_config(root=data_root))


def label2face(root, data_root):
  """A tiny sean model (16 px, 19 classes, refs with their maps)."""
  config = config_lib.with_task(config_lib.tiny_config(root=data_root),
                                "label2face", "label2face", norm_mode="sean",
                                n_up=2, spade_hidden=8, style_dim=8)
  config = dataclasses.replace(config, model=dataclasses.replace(
      config.model, base_channels=4))
  return _export(root, "label2face", config)


def clustered_run(config, workdir):
  """(task, generator, workdir): a fresh pix2pixHD --label_feat generator of
  `config` as a run's checkpoint, with made-up centres for hair (3) and
  skin (2) as tools/cluster_features.py saves them."""
  task = tasks.make_task(config)
  generator = task.build_generator()
  fake_runs.generator_workdir(config, generator, workdir)
  rng, feat = np.random.default_rng(3), config.family.feat_num
  clusters.save(workdir, {
      "hair": (rng.uniform(-1, 1, (3, feat)), np.array([5, 3, 1])),
      "skin": (rng.uniform(-1, 1, (2, feat)), np.array([4, 4]))})
  return task, generator, workdir


def pix2pixhd_clusters(root, data_root):
  """A tiny pix2pixHD --label_feat model (16 px) with clusters, exported
  with them as s2f-export does."""
  config = config_lib.with_task(
      config_lib.tiny_config(root=data_root, gan_loss="lsgan"), "label2face",
      "pix2pixhd", label_feat=True, nef=4, n_downsample_global=1,
      n_blocks_global=1, n_blocks_local=1, lambda_l1=0.0)
  config = dataclasses.replace(config, model=dataclasses.replace(
      config.model, base_channels=4))
  task, generator, workdir = clustered_run(
      config, os.path.join(root, "pix2pixhd_run"))
  return (export.export(task, generator, os.path.join(root, "pix2pixhd"),
                        assets=clusters.export_assets(workdir)), workdir)


def ugatit(root, data_root):
  """A tiny light U-GAT-IT (32 px), with its attention signature."""
  config = config_lib.tiny_config(root=data_root)
  config = dataclasses.replace(
      config, data=dataclasses.replace(config.data, image_size=32),
      model=dataclasses.replace(config.model, base_channels=4))
  config = config_lib.with_task(config, "unpaired", "ugatit", light=True,
                                n_res=1, d_channels=4, pool_size=0)
  return _export(root, "ugatit", config)


def stylegan2(root, data_root):
  """A tiny StyleGAN2 (16 px, z_dim 8): noise and psi from numbers."""
  base = config_lib.tiny_config(root=data_root)
  config = config_lib.with_task(config_lib.Config(
      data=base.data, model=config_lib.ModelConfig(base_channels=4),
      train=dataclasses.replace(base.train, gan_loss="non_saturating")),
                                "stylegan2", "stylegan2", z_dim=8,
                                mapping_layers=2)
  return _export(root, "stylegan2", config)


def built_once(shared_dir, name, build):
  """`build()`'s paths, built by the first test process that asks.

  The s2f-serve API and browser tests serve the same models, and
  pytest-xdist may run the two files on different workers, each of which
  would export all of them (about 10 CPU-seconds each). `shared_dir` is
  one folder for every worker of the session; a file lock makes the others
  wait for the first build and read its paths. The models are read-only to
  every test.
  """
  os.makedirs(shared_dir, exist_ok=True)
  record = os.path.join(shared_dir, f"{name}.json")
  with open(os.path.join(shared_dir, f"{name}.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not os.path.exists(record):
      paths = build(os.path.join(shared_dir, name))
      with open(record + ".tmp", "w") as f:
        json.dump(paths, f)
      os.replace(record + ".tmp", record)
    with open(record) as f:
      return tuple(json.load(f))


def png(image):
  """uint8 gray [H, W] or BGR [H, W, 3] -> PNG bytes."""
  ok, data = cv2.imencode(".png", image)
  assert ok
  return data.tobytes()


def b64(data):
  return base64.b64encode(data).decode("ascii")


def sketch(size=64, offset=0):
  """White paper with a few dark strokes, as PNG bytes."""
  paper = np.full((size, size), 255, np.uint8)
  cv2.line(paper, (8 + offset, 8), (size - 8, size - 8 - offset), 0, 3)
  cv2.circle(paper, (size // 2, size // 2), size // 4, 0, 2)
  return png(paper)
