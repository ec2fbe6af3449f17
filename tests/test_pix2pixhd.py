"""--task=label2face --model=pix2pixhd: global generator + local enhancer.

Checked against pix2pixHD's own definitions (Wang et al. 2018,
arXiv:1711.11585; NVIDIA/pix2pixHD): the edge map of `get_edges`, the
coarse-to-fine wiring, the objective's weights, and the coarse-to-fine
schedule (G1 trained alone, warm-started into the full model, frozen bit for
bit while the local enhancer trains).
"""

import dataclasses
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

import step_comparison
from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf import pixels
from s2f_tf import tasks
from s2f_tf import train
from s2f_tf.data import decode
from s2f_tf.data import layout
from s2f_tf.models import patchgan
from s2f_tf.models import pix2pixhd
from s2f_tf.serve import model as serve_model
from s2f_tf.serving import label2face as label2face_serving
from s2f_tf.tasks import base
from s2f_tf.tasks import label2face as label2face_task


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child_env():
  return {**os.environ, "PYTHONPATH": REPO}


def p2p_config(root, image_size=32, base_channels=4, family=None, **train):
  """A tiny pix2pixHD run on the session's faces: G1 with one stride-2 conv
  and one block, one local enhancer with one block."""
  train = {"gan_loss": "lsgan", **train}
  config = config_lib.tiny_config(root=root, **train)
  family = {"n_downsample_global": 1, "n_blocks_global": 1,
            "n_blocks_local": 1, "lambda_fm": 10.0, "lambda_l1": 0.0,
            **(family or {})}
  config = config_lib.with_task(config, "label2face", "pix2pixhd", **family)
  config = dataclasses.replace(
      config, data=dataclasses.replace(config.data, image_size=image_size),
      model=dataclasses.replace(config.model, base_channels=base_channels))
  tasks.validate(config)
  return config


def _numpy_get_edges(t):
  """pix2pixHD's get_edges, on [B, H, W] class ids."""
  edge = np.zeros(t.shape, bool)
  edge[:, :, 1:] |= t[:, :, 1:] != t[:, :, :-1]
  edge[:, :, :-1] |= t[:, :, 1:] != t[:, :, :-1]
  edge[:, 1:, :] |= t[:, 1:, :] != t[:, :-1, :]
  edge[:, :-1, :] |= t[:, 1:, :] != t[:, :-1, :]
  return edge.astype(np.float32)[..., None]


def test_mask_edges_are_get_edges_of_the_label_map():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, (2, 9, 7)).astype(np.int32)
  labels[1] = 1  # One class everywhere: no edge at all.
  labels[1, 4, 3] = 2  # One odd pixel: it and its 4 neighbours.
  edges = np.asarray(pix2pixhd.mask_edges(tf.constant(labels)))
  np.testing.assert_array_equal(edges, _numpy_get_edges(labels))
  assert edges[1].sum() == 5


def _numpy_avg_pool(x):
  """3x3 stride-2 average over the window inside the image (pix2pixHD's
  AvgPool2d(3, 2, padding=1, count_include_pad=False))."""
  b, h, w, c = x.shape
  out = np.zeros((b, (h + 1) // 2, (w + 1) // 2, c))
  for i in range(out.shape[1]):
    for j in range(out.shape[2]):
      window = x[:, max(2 * i - 1, 0):2 * i + 2, max(2 * j - 1, 0):2 * j + 2]
      out[:, i, j] = window.mean(axis=(1, 2))
  return out


def test_local_enhancer_adds_its_features_to_g1_on_the_halved_input(
    tiny_data_root):
  config = p2p_config(tiny_data_root)
  generator = pix2pixhd.build_generator(config.family, 32, 4)
  labels = tf.constant(np.random.default_rng(1).integers(0, 19, (2, 32, 32)),
                       tf.int32)
  x = pix2pixhd.condition(labels, config.family)
  assert x.shape == (2, 32, 32, 20)  # One-hot and the edge channel.
  halved = pix2pixhd.downsample(x)
  # The pooled map holds means of 0/1 values over 4, 6 or 9 pixels: the
  # window sums are exact, and three roundings (sum / 9, count / 9, their
  # ratio) put it within 3 u = 3 * 2**-24 of the exact mean; 4 u allowed.
  np.testing.assert_allclose(np.asarray(halved), _numpy_avg_pool(x.numpy()),
                             rtol=4 * 2**-24, atol=0)
  by_hand = generator.to_rgb(generator.local_back[0](
      generator.local_front[0](x) + generator.global_net(halved)))
  out = generator.generate(labels, {})
  # The same layers on the same values: equal but for the order of a
  # conv's sums, a few float32 ulps of outputs in [-1, 1].
  np.testing.assert_allclose(np.asarray(out), np.asarray(by_hand), atol=1e-6)
  assert out.shape == (2, 32, 32, 3) and out.dtype == tf.float32
  # G1 is twice the local width, and keeps its paths with or without G2.
  alone = pix2pixhd.build_generator(
      dataclasses.replace(config.family, n_local_enhancers=0), 16, 8)
  shapes = lambda g, prefix: {v.path: tuple(v.shape) for v in g.variables
                              if v.path.startswith(prefix)}
  assert shapes(alone, pix2pixhd.GLOBAL_PREFIX) == shapes(
      generator, pix2pixhd.GLOBAL_PREFIX)
  assert shapes(alone, pix2pixhd.GLOBAL_PREFIX)


def test_generator_terms_are_pix2pixhds_sums_over_scales(tiny_data_root):
  """GAN = sum over D's scales of mean (D(fake) - 1)^2, and feature matching
  = lambda_feat sum_scales 1/num_D sum_layers 4/(n_layers + 1) mean L1, as
  pix2pixHD's GANLoss and GAN_Feat; D's halves add up to its LSGAN loss."""
  config = p2p_config(tiny_data_root, batch_size=2)
  task = tasks.make_task(config)
  generator, discriminator = task.build_generator(), task.build_discriminator()
  batch = next(iter(task.make_dataset()))
  terms = task.g_terms(generator, discriminator, batch,
                       base.StepContext(tf.constant(0, tf.int64))).terms
  assert set(terms) == {"GAN", "GAN_Feat"}  # lambda_l1=0, no VGG file.
  fake = generator.generate(batch["mask"], {}, training=True)
  cond = pix2pixhd.condition(batch["mask"], config.family)
  fake_out = discriminator((fake, cond), training=False)
  real_out = discriminator((batch["photo"], cond), training=False)
  gan = sum(np.mean((np.asarray(l, np.float64) - 1) ** 2)
            for l in patchgan.logits(fake_out))
  f = config.family
  feat = sum(
      (1 / f.num_d) * (4 / (f.d_layers + 1)) * np.mean(np.abs(
          np.asarray(r, np.float64) - np.asarray(q, np.float64)))
      for rs, qs in zip(patchgan.features(real_out),
                        patchgan.features(fake_out))
      for r, q in zip(rs, qs))
  assert len(patchgan.features(real_out)[0]) == f.d_layers + 1
  assert float(terms["GAN"]) == pytest.approx(gan, rel=1e-5)
  assert float(terms["GAN_Feat"]) == pytest.approx(f.lambda_fm * feat,
                                                   rel=1e-5)
  real_logits = patchgan.logits(real_out)
  fake_logits = patchgan.logits(fake_out)
  d_real, d_fake = label2face_task.loss_halves("lsgan", real_logits,
                                               fake_logits)
  mean = lambda ls, target: np.mean([np.mean((np.asarray(l) - target) ** 2)
                                     for l in ls])
  assert float(d_real) == pytest.approx(0.5 * mean(real_logits, 1), rel=1e-5)
  assert float(d_fake) == pytest.approx(0.5 * mean(fake_logits, 0), rel=1e-5)


@pytest.mark.slow
def test_g1_alone_warm_starts_the_full_model_frozen_bit_for_bit(
    tiny_data_root, tmp_path, monkeypatch):
  """Coarse to fine: G1 alone at half size and twice the width, then the
  full model from its weights (--init_from=RUN:generator/global/); for
  --niter_fix_global steps only the local enhancer moves."""
  history = []

  def record(self, step, generator, discriminator):
    del self, discriminator
    history.append((step, {v.path: v.numpy().copy()
                           for v in generator.variables}))

  monkeypatch.setattr(label2face_task.Label2FaceTask, "after_step", record)
  coarse = p2p_config(tiny_data_root, image_size=16, base_channels=8,
                      family={"n_local_enhancers": 0}, steps=2,
                      checkpoint_every=2, eval_at_end=False)
  train.run(coarse, str(tmp_path / "coarse"))
  trained = {path: value for path, value in history[-1][1].items()
             if path.startswith(pix2pixhd.GLOBAL_PREFIX)}
  assert trained
  history.clear()
  fine = p2p_config(tiny_data_root, family={"niter_fix_global": 2}, steps=3,
                    checkpoint_every=3, eval_at_end=False,
                    init_from=f"{tmp_path / 'coarse'}:generator/global/")
  assert [(p.name, p.start, p.stop, p.frozen)
          for p in tasks.make_task(fine).phases()] == [
              ("fix_global", 0, 2, (pix2pixhd.GLOBAL_PREFIX,)),
              ("train", 2, 3, ())]
  train.run(fine, str(tmp_path / "fine"))
  assert [step for step, _ in history] == [0, 1, 2]
  for step, weights in history:
    for path, value in trained.items():
      assert np.array_equal(weights[path], value) == (step < 2), (step, path)
  first, last = history[0][1], history[-1][1]
  local = [p for p in first if p.startswith("generator/local_1_")]
  assert local and all(not np.array_equal(first[p], last[p]) for p in local)


def test_export_draws_the_generators_face_and_refuses_bad_ids(
    tiny_data_root, tmp_path):
  """The label2face signatures serve pix2pixHD unchanged: the edges are
  computed inside the graph from the label map alone."""
  task = tasks.make_task(p2p_config(tiny_data_root))
  generator = task.build_generator()
  path = export.export(task, generator, str(tmp_path))  # Verifies to 1e-5.
  served = tf.saved_model.load(path).signatures
  labels = np.random.default_rng(2).integers(0, 19, (1, 32, 32))
  got = served["label2face_float"](labels=tf.constant(labels, tf.uint8))
  want = generator.generate(tf.constant(labels, tf.int32), {})
  (image,) = got.values()
  np.testing.assert_allclose(np.asarray(image), np.asarray(want), atol=1e-5)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="labels must hold class ids < label_nc=19"):
    served["label2face"](labels=tf.fill([1, 32, 32], tf.constant(19,
                                                                 tf.uint8)))


def _sketch_config(root, **train):
  return p2p_config(root, family={"edge_source": "sketch"}, **train)


def _two_sketches(batch=2, size=32):
  """uint8 drawings [B, S, S, 1]: random strokes, then one more line."""
  rng = np.random.default_rng(5)
  first = np.where(rng.random((batch, size, size, 1)) < 0.1, 0,
                   255).astype(np.uint8)
  second = first.copy()
  second[:, size // 2, 4:-4] = 0  # A line across the face.
  return first, second


def test_sketch_edges_reach_g_and_d_with_the_default_variables(
    tiny_data_root):
  """--edge_source=sketch: the boundary channel is the sketch's ink, in the
  place of mask_edges' (so G and D keep the default's variables); another
  sketch of the same map changes G's face and D's logits; training,
  sampling and evaluation read each target's own sketch."""
  default = tasks.make_task(p2p_config(tiny_data_root))
  task = tasks.make_task(_sketch_config(tiny_data_root, batch_size=4))
  f = task.config.family
  generator, discriminator = task.build_generator(), task.build_discriminator()
  shapes = lambda model: {v.path: tuple(v.shape) for v in model.variables}
  assert shapes(generator) == shapes(default.build_generator())
  assert shapes(discriminator) == shapes(default.build_discriminator())
  labels = tf.constant(np.random.default_rng(1).integers(0, 19, (2, 32, 32)),
                       tf.int32)
  first, second = (pixels.to_unit(s) for s in _two_sketches())
  cond = pix2pixhd.condition(labels, f, first)
  assert cond.shape == (2, 32, 32, 20)
  np.testing.assert_array_equal(cond[..., :19], tf.one_hot(labels, 19))
  np.testing.assert_array_equal(cond[..., 19], (1 - first[..., 0]) / 2)
  faces = [generator.generate(labels, {}, sketch=s) for s in (first, second)]
  assert faces[0].shape == (2, 32, 32, 3)
  assert np.abs(np.asarray(faces[0]) - np.asarray(faces[1])).max() > 1e-3
  photo = tf.zeros([2, 32, 32, 3])
  logits = [np.concatenate([np.ravel(l) for l in patchgan.logits(
      discriminator((photo, pix2pixhd.condition(labels, f, s))))])
            for s in (first, second)]
  assert np.abs(logits[0] - logits[1]).max() > 1e-4
  with pytest.raises(ValueError, match="pass the sketch with the map"):
    generator.generate(labels, {})
  batch = next(iter(task.make_dataset()))
  fake = task.generator_pass(generator, batch)["fake"]
  np.testing.assert_array_equal(fake, generator.generate(
      batch["mask"], {}, training=True, sketch=batch["sketch"]))
  context = base.StepContext(tf.constant(0, tf.int64))
  for terms in (task.d_terms, task.g_terms):
    values = terms(generator, discriminator, batch, context).terms.values()
    assert all(np.isfinite(value.numpy()) for value in values)
  sample = task.make_sampler(generator)
  refs = np.zeros((2, 1, 32, 32, 3), np.float32)
  ref_labels = np.zeros((2, 1, 32, 32), np.int32)
  np.testing.assert_allclose(
      task._generate(sample)(labels.numpy(), refs, ref_labels,
                             sketch=second),
      faces[1], atol=1e-6)
  measured = task.evaluate(sample, 8, ("psnr",))
  assert np.isfinite(measured["model"]["psnr"])


def test_export_takes_the_sketch_beside_the_map(tiny_data_root, tmp_path):
  """Every label2face signature of a sketch model takes sketch uint8 [B, S,
  S, 1] after labels (verified to 1e-5 by export), and draws the
  generator's face of that map and sketch."""
  task = tasks.make_task(_sketch_config(tiny_data_root))
  generator = task.build_generator()
  path = export.export(task, generator, str(tmp_path))  # Verifies to 1e-5.
  served = tf.saved_model.load(path).signatures
  labels = np.random.default_rng(2).integers(0, 19, (2, 32, 32))
  images = []
  for drawing in _two_sketches():
    (image,) = served["label2face_float"](
        labels=tf.constant(labels, tf.uint8),
        sketch=tf.constant(drawing)).values()
    want = generator.generate(tf.constant(labels, tf.int32), {},
                              sketch=pixels.to_unit(drawing))
    np.testing.assert_allclose(np.asarray(image), np.asarray(want), atol=1e-5)
    images.append(np.asarray(image))
  assert np.abs(images[0] - images[1]).max() > 1e-3
  for name in label2face_serving.Label2FaceExport.SIGNATURES:
    assert set(served[name].structured_input_signature[1]) == {"labels",
                                                               "sketch"}
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"sketch must be uint8 \[B, 32, 32, 1\]"):
    served["label2face"](labels=tf.constant(labels, tf.uint8),
                         sketch=tf.zeros([2, 32, 32, 3], tf.uint8))
  # s2f-serve's editor: the map and the sketch as uploads, the same face.
  editor = serve_model.load(export_dir=path)
  drawing = _two_sketches()[1][:1]
  uploads = {"labels": decode.encode_png(labels[0].astype(np.uint8))}
  with pytest.raises(serve_model.RequestError, match="reads the face's "
                     "sketch beside its map"):
    editor.run("label2face", uploads)
  got = editor.run("label2face", {**uploads, "sketch": decode.encode_png(
      drawing[0, ..., 0])})["image"]
  np.testing.assert_array_equal(got, served["label2face"](
      labels=tf.constant(labels[:1], tf.uint8),
      sketch=tf.constant(drawing))["image"])


def test_sample_files_of_a_sketch_model(tiny_data_root, tmp_path):
  """s2f-sample's files: --labels with --sketch (or --sketch_from a photo,
  drawn by the run's --sketch_method); without either, one line."""
  task = tasks.make_task(_sketch_config(tiny_data_root))
  labels_path, sketch_path = str(tmp_path / "m.png"), str(tmp_path / "s.png")
  decode.write_png(labels_path, task.training_split().masks[0])
  drawing = _two_sketches(batch=1)[0][0]
  decode.write_png(sketch_path, drawing[..., 0])
  files = dict.fromkeys(("sketch", "sketch_from", "labels", "refs",
                         "ref_labels", "image"))
  with pytest.raises(ValueError) as error:
    task.load_serving_inputs({**files, "labels": labels_path})
  assert str(error.value) == (
      "this model (--edge_source=sketch) reads the face's sketch beside its "
      "map: pass --sketch=s.png (or --sketch_from=photo.jpg)")
  feeds = task.load_serving_inputs({**files, "labels": labels_path,
                                    "sketch": sketch_path})
  np.testing.assert_array_equal(feeds["sketch"], drawing[None])
  assert feeds["labels"].shape == (1, 32, 32)
  feeds = task.load_serving_inputs({
      **files, "labels": labels_path,
      "sketch_from": layout.image_path(tiny_data_root, 0)})
  assert feeds["sketch"].shape == (1, 32, 32, 1)


@pytest.fixture(scope="module")
def feature_run(tiny_data_root, tmp_path_factory):
  """A pix2pixHD --label_feat run trained 2 steps, then
  tools/cluster_features.py --clusters=3 and s2f-export on it, each in a
  subprocess as a user runs them (about 30 s in all). Holds the workdir,
  the tool's and s2f-export's CompletedProcess (`tool`, `exported`) and the
  export's version folder (`export`). Trained, clustered and exported once
  for test_clustered_features_draw_other_faces_from_one_map,
  test_export_draws_cluster_features_and_carries_the_centres and
  test_s2f_export_carries_the_runs_clusters.
  """
  from s2f_tf import clusters  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("feature_run")
  workdir = str(root / "run")
  config = p2p_config(tiny_data_root, family={  # 4: the projector's least.
      "label_feat": True, "nef": 4, "feat_num": 4},
                      steps=2, checkpoint_every=2, eval_at_end=False)
  train.run(config, workdir)
  with pytest.raises(FileNotFoundError, match="cluster_features.py"):
    clusters.load(workdir)  # Before the precompute step.
  tool = subprocess.run(
      [sys.executable, os.path.join(REPO, "tools", "cluster_features.py"),
       f"--workdir={workdir}", "--clusters=3"],
      capture_output=True, text=True, check=True, env=_child_env())
  exported = subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.export_main", f"--workdir={workdir}",
       f"--export_dir={root / 'export'}"],
      capture_output=True, text=True, env=_child_env())
  return types.SimpleNamespace(workdir=workdir, tool=tool, exported=exported,
                               export=str(root / "export" / "1"))


@pytest.mark.slow
def test_export_draws_cluster_features_and_carries_the_centres(feature_run,
                                                               tmp_path):
  """label2face_features is clusters.draw through the SavedModel (verified
  by export like every signature), and the export carries the centres."""
  from s2f_tf import clusters  # pylint: disable=g-import-not-at-top
  workdir, path = feature_run.workdir, feature_run.export
  assert clusters.export_assets(workdir) == [clusters.clusters_path(workdir)]
  assert os.path.isfile(os.path.join(path, "assets", "clusters.npz"))
  centres, carried = clusters.load(workdir), clusters.load_for_serving(path)
  assert sorted(carried) == sorted(centres) and {"hair", "skin"} <= set(
      carried)
  for name, want in centres.items():
    np.testing.assert_array_equal(carried[name], want)
  served = tf.saved_model.load(path).signatures["label2face_features"]
  task = tasks.make_task(config_lib.load_config(workdir))
  labels = task.training_split().masks[0]
  assert (labels == layout.CLASS_ID["hair"]).any()
  f = task.config.family
  faces = []
  # The last cluster of two classes: as many as k-means kept (<= 3 each).
  last = ",".join(f"{name}:{len(centres[name]) - 1}" for name in ("hair",
                                                                  "skin"))
  for text in ("", "hair:1", last):
    features = clusters.region_features(
        centres, clusters.parse_choices(text, centres), f.label_nc,
        f.feat_num)
    faces.append(served(labels=tf.constant(labels[None]),
                        features=tf.constant(features[None]))["image"]
                 .numpy()[0])
    np.testing.assert_array_equal(
        faces[-1], clusters.draw(labels, text, workdir=workdir))
  assert not np.array_equal(faces[0], faces[1])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=rf"features must be float32 \[B, 19, "
                     rf"{f.feat_num}\]"):
    served(labels=tf.constant(labels[None]),
           features=tf.zeros([1, 19, 2]))
  # No centres in the run: nothing carried, nothing found.
  bare = str(tmp_path / "run")
  shutil.copytree(workdir, bare)
  os.remove(clusters.clusters_path(bare))
  assert clusters.export_assets(bare) == []
  assert clusters.load_for_serving(workdir=bare) is None


@pytest.mark.parametrize("family,train_overrides,message", [
    ({"niter_fix_global": 2, "n_local_enhancers": 0}, {},
     "--niter_fix_global freezes G1 while the local enhancer trains: it "
     "needs --n_local_enhancers >= 1"),
    ({"edge_source": "instance"}, {},
     "--edge_source=instance: CelebAMask-HQ has no instance maps, and "
     "pix2pixHD's get_edges of one a face could have (a class or its "
     "connected components per instance) equals --edge_source=mask_edges; "
     "use mask_edges, or sketch for drawn boundaries"),
    ({"edge_source": "canny"}, {},
     "--edge_source='canny' is not built; use one of mask_edges, sketch, "
     "none"),
    ({}, {"gan_loss": "wgan"},
     "--model=pix2pixhd trains with --gan_loss=lsgan (the paper's) or hinge, "
     "got 'wgan'"),
    ({"n_downsample_global": 4}, {},
     "--image_size=32 must be a multiple of 2**(n_downsample_global + "
     "n_local_enhancers) = 32 and at least 64; lower --n_downsample_global "
     "or raise --image_size"),
])
def test_bad_settings_fail_in_one_line(family, train_overrides, message,
                                       tiny_data_root):
  with pytest.raises(ValueError) as error:
    p2p_config(tiny_data_root, family=family, **train_overrides)
  assert str(error.value) == message


@pytest.mark.parametrize("preset,size,g1_width", [
    ("pix2pixhd_celebamask_512", 512, 64), ("pix2pixhd_demo", 64, 32)])
def test_presets_keep_the_papers_settings(preset, size, g1_width, tmp_path,
                                          monkeypatch):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top
  repo = REPO
  monkeypatch.chdir(tmp_path)  # The 512 px preset's data is not here,
  open("vgg19.weights.h5", "w").close()  # nor its VGG file (only named).
  fv = flags.FlagValues()
  s2f_flags.define_config_flags(fv)
  fv(["prog", f"--flagfile={repo}/flags/{preset}.cfg",
      f"--data_root={tmp_path}"])
  config = s2f_flags.config_from_flags(fv)
  tasks.validate(config)
  m, t, f = config.model, config.train, config.family
  assert (m.task, m.model, config.data.image_size) == ("label2face",
                                                       "pix2pixhd", size)
  assert m.base_channels * 2**f.n_local_enhancers == g1_width
  assert (t.gan_loss, t.beta1, t.beta2, t.g_lr, t.d_lr) == (
      "lsgan", 0.5, 0.999, 2e-4, 2e-4)
  assert f.lambda_fm == 10
  # The paper's linear decay over the second half; the CPU demo's 900
  # steps keep the rate constant (docs/pix2pixhd.md has the runs).
  assert t.lr_decay_steps == (t.steps // 2 if size == 512 else 0)
  if size == 512:
    assert (f.n_downsample_global, f.n_blocks_global, f.n_blocks_local,
            f.num_d, t.batch_size, f.lambda_vgg, t.ema_beta) == (
                4, 9, 3, 3, 1, 10, 0)


def test_region_features_are_the_encoders_means_inside_each_class(
    tiny_data_root):
  config = p2p_config(tiny_data_root, family={"label_feat": True, "nef": 4})
  generator = pix2pixhd.build_generator(config.family, 32, 4)
  rng = np.random.default_rng(3)
  photos = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  labels = rng.integers(0, 4, (2, 32, 32)).astype(np.int32)
  labels[1] = 0  # Only background: classes 1-3 absent.
  features, present = generator.encode_regions_per_image(photos, labels)
  encoded = np.asarray(generator.feature_encoder(photos), np.float64)
  assert features.shape == (2, 19, 3)
  for i in range(2):
    for c in range(19):
      inside = labels[i] == c
      assert float(present[i, c]) == float(inside.any())
      want = encoded[i][inside].mean(0) if inside.any() else np.zeros(3)
      # A float32 sum of up to 1024 values in [-1, 1] (tanh): within
      # 1024 u of the float64 mean's size bound, u = 2**-24.
      np.testing.assert_allclose(np.asarray(features[i, c]), want, rtol=0,
                                 atol=1024 * 2**-24)
  painted = np.asarray(generator.feature_map(labels, features))
  np.testing.assert_array_equal(
      painted, np.asarray(features)[np.arange(2)[:, None, None], labels])
  # Training reads the target photo as the one reference (the paper's).
  task = tasks.make_task(config)
  batch = next(iter(task.make_dataset()))
  inputs = task._inputs(batch)  # pylint: disable=protected-access
  np.testing.assert_array_equal(inputs["refs"][:, 0], batch["photo"])
  np.testing.assert_array_equal(inputs["ref_labels"][:, 0], batch["mask"])


def test_kmeans_finds_separated_blobs_largest_first():
  from s2f_tf import clusters  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  means = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
  counts = [10, 30, 20]
  points = np.concatenate([m + rng.normal(0, 0.1, (n, 2))
                           for m, n in zip(means, counts)])
  centres, sizes = clusters.kmeans(points, 3, seed=1)
  assert sizes.tolist() == [30, 20, 10]
  # A seed gives the same centres in the same order every time (the tool's
  # saved clusters are what s2f-sample --clusters=hair:3 names).
  again, _ = clusters.kmeans(points.copy(), 3, seed=1)
  np.testing.assert_array_equal(again, centres)
  blobs = np.split(points, np.cumsum(counts)[:-1])
  for centre, blob in zip(centres, (blobs[1], blobs[2], blobs[0])):
    np.testing.assert_allclose(centre, blob.mean(0), atol=1e-12)
  # Repeated points: centres left with no point are dropped.
  centres, sizes = clusters.kmeans(np.zeros((5, 2)), 3)
  assert sizes.tolist() == [5] and centres.shape == (1, 2)


@pytest.mark.parametrize("text,message", [
    ("hair3", "--clusters: 'hair3' is not CLASS:INDEX (e.g. hair:3)"),
    ("wings:1", "--clusters: no clusters for class 'wings'; the run has "
     "hair, skin"),
    ("hair:2", "--clusters: hair has clusters 0 to 1, not 2"),
])
def test_bad_cluster_choices_fail_in_one_line(text, message):
  from s2f_tf import clusters  # pylint: disable=g-import-not-at-top
  centres = {"hair": np.zeros((2, 3)), "skin": np.zeros((4, 3))}
  with pytest.raises(ValueError) as error:
    clusters.parse_choices(text, centres)
  assert str(error.value) == message
  assert clusters.parse_choices("hair:1, skin:3", centres) == {"hair": 1,
                                                               "skin": 3}


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step(tiny_data_root, tmp_path):
  """As test_distribute's, for pix2pixHD with its feature encoder: G1, the
  local enhancer, the encoder's per-image region averages and the 2-scale
  LSGAN D with feature matching, one D and one G step, global batch 8, on
  one device and on two mirrored replicas, by SGD, agree to float32
  rounding (step_comparison.py derives the bounds). Seeds 0 to 5 on a Zen 4
  (2026-12-07), both batches each: gradients at most 0.01 of their bounds,
  EMA weights 0.28, weights up to 0.99 (a weight's bound is one rounding,
  met with equality by design).
  """
  config = p2p_config(tiny_data_root, family={"label_feat": True, "nef": 4},
                      batch_size=8, ema_beta=0.9)
  result = step_comparison.run_mirrored_step(config, str(tmp_path), 900)
  assert result["replicas"] == 2 and result["copies"] == [2]
  assert result["replicas_differ"] == []  # Weights, u, EMA, velocities.
  step_comparison.assert_within_bounds(result["groups"])


@pytest.mark.parametrize("family,message", [
    ({}, "--features=regions needs region codes: a --norm_mode=sean run or "
     "a --model=pix2pixhd --label_feat one"),
    ({"label_feat": True}, "--features=regions: this run's region features "
     "have --feat_num=3 values, and the projector's PCA and t-SNE need at "
     "least 4; train with --feat_num=4 or more to project them"),
])
def test_region_embeddings_need_features_the_projector_can_show(
    tiny_data_root, family, message):
  task = tasks.make_task(p2p_config(tiny_data_root, family=family))
  with pytest.raises(ValueError) as error:
    task.embeddings(None, "train", 100, ["regions"])
  assert str(error.value) == message


@pytest.mark.slow
def test_clustered_features_draw_other_faces_from_one_map(feature_run,
                                                          tmp_path):
  """Train briefly, cluster the training set's region features (the
  precompute step, `feature_run`), then draw one map with two hair
  clusters."""
  from s2f_tf import clusters  # pylint: disable=g-import-not-at-top
  workdir = feature_run.workdir
  assert feature_run.tool.stdout.splitlines()[-1] == (
      f"wrote {clusters.clusters_path(workdir)}")
  result = clusters.compute(workdir, clusters=3)
  task, generator, _ = tasks.restore(workdir)
  split = task.training_split()
  features, present = generator.encode_regions_per_image(
      split.photos.astype(np.float32) / 127.5 - 1, split.masks.astype(
          np.int32))
  hair = layout.CLASS_ID["hair"]
  points = np.asarray(features)[np.asarray(present)[:, hair] > 0, hair]
  centres, sizes = result["hair"]
  assert sizes.sum() == len(points) and len(centres) >= 2
  loaded = clusters.load(workdir)  # What the tool saved.
  np.testing.assert_array_equal(loaded["hair"], centres)
  labels = split.masks[0]
  assert (labels == hair).any()
  default = clusters.draw(labels, "", workdir=workdir)
  other = clusters.draw(labels, "hair:1", workdir=workdir)
  assert default.shape == (32, 32, 3) and default.dtype == np.uint8
  assert not np.array_equal(default, other)
  np.testing.assert_array_equal(
      default, clusters.draw(labels, "hair:0", workdir=workdir))
  # The projector: one point per training photo and region it shows (its
  # region features), labelled with the region and the nearest centre of
  # that region's class: the index s2f-sample --clusters takes.
  from s2f_tf import project  # pylint: disable=g-import-not-at-top
  exported = project.export_projector(
      workdir, split="train", max_points=len(split), features="regions")
  regions = exported["regions"]
  with open(regions.metadata_path) as f:
    header, *rows = [line.rstrip("\n").split("\t") for line in f]
  names = np.array([row[header.index("region")] for row in rows])
  chosen = [int(row[header.index("cluster")]) for row in rows]
  np.testing.assert_array_equal(  # Every region of every training photo.
      np.sort(names), np.sort(np.array(layout.CLASS_NAMES)[
          np.nonzero(np.asarray(present) > 0)[1]]))
  if regions.tensor_format == "tsv":
    values = np.loadtxt(regions.tensor_path, ndmin=2)
  else:
    values = np.fromfile(regions.tensor_path, np.float32).reshape(
        regions.shape)
  want = [int(np.argmin(((loaded[n] - v)**2).sum(1))) if n in loaded else -1
          for v, n in zip(values, names)]
  assert chosen == want
  assert len({c for c, n in zip(chosen, names) if n == "hair"}) >= 2
  # The command line: s2f-sample --clusters on a label-map PNG.
  mask, out = str(tmp_path / "mask.png"), str(tmp_path / "face.png")
  decode.write_png(mask, labels)
  subprocess.run(
      [sys.executable, "-m", "s2f_tf.cli.sample_main", f"--workdir={workdir}",
       f"--labels={mask}", "--clusters=hair:1", f"--out={out}"],
      capture_output=True, text=True, check=True, env=_child_env())
  np.testing.assert_array_equal(decode.read_image(out, "rgb"), other)


@pytest.mark.slow
def test_s2f_export_carries_the_runs_clusters(feature_run):
  from s2f_tf import clusters  # pylint: disable=g-import-not-at-top
  done, workdir = feature_run.exported, feature_run.workdir
  assert done.returncode == 0, done.stderr
  assert done.stdout.splitlines()[-1] == (
      f"exported the generator of step 2 to {feature_run.export}")
  carried, centres = (clusters.load_for_serving(feature_run.export),
                      clusters.load(workdir))
  assert sorted(carried) == sorted(centres) and "hair" in centres
  for name, want in centres.items():
    np.testing.assert_array_equal(carried[name], want)
