"""--augment inside real (tiny) training runs of every family kind."""

# The family tests' tiny configs (`_config`) are reused, not copied.
# pylint: disable=protected-access

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import test_ada
import test_tasks_label2face
import test_tasks_lightweight
import test_tasks_stylegan2
from s2f_tf import augment
from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import numerics
from s2f_tf import precision as precision_lib
from s2f_tf import tasks
from s2f_tf import train
from s2f_tf.data import anime
from s2f_tf.tasks import base


@pytest.fixture(scope="module")
def anime_root(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("anime") / "set")
  anime.write_unpaired_set(root, identities=8, per_identity=3, size=32,
                           seed=0, test_fraction=0.25)
  return root


def _unpaired(root, **train_overrides):
  config = config_lib.tiny_config(root=root, **{
      "gan_loss": "lsgan", "batch_size": 2, "ema_beta": 0.0,
      **train_overrides})
  config = dataclasses.replace(
      config, data=dataclasses.replace(config.data, image_size=32),
      model=dataclasses.replace(config.model, base_channels=4))
  return config_lib.with_task(config, "unpaired", "cyclegan", n_res=1,
                              d_channels=4, pool_size=2)


CONFIGS = {
    # One PatchGAN scale (num_d=1): D still reads every augmented image.
    "sketch2face": lambda root, **t: config_lib.with_family(
        config_lib.tiny_config(root, **t), num_d=1),
    # And test_tasks_label2face's one-upsampling generator.
    "label2face": lambda root, **t: config_lib.with_family(
        test_tasks_label2face.l2f_config(root, "spade", **t), num_d=1,
        **test_tasks_label2face.SMALL),
    # R1 and path-length regularisation every step: each player's one
    # (regularising) step variant is traced, not a plain one beside it.
    "stylegan2": lambda root, **t: test_tasks_stylegan2._config(
        root, pl_interval=1, **{"r1_interval": 1, **t}),
    "lightweight": test_tasks_lightweight._config,
}


def _run(config, workdir):
  """(loop, results) of `config`'s run, the loop kept for its guard."""
  tasks.validate(tasks.resolve_model(config))
  with precision_lib.precision_policy(config.train.precision):
    loop = train.Loop(train.setup(config, workdir))
    return loop, loop.run()


def _assert_finite_and_traced_once(results, loop):
  for player in ("d", "g"):
    values = results["last"][player]
    assert all(np.isfinite(v) for v in values.values()), values
  for name, function in loop.guard.functions.items():
    assert function.experimental_get_tracing_count() == 1, name


@pytest.mark.parametrize("family,augment,precision", [
    ("sketch2face", "diffaug", "float32"),
    ("lightweight", "diffaug", "mixed_float16"),
    # 15-50 s each on the shared 2 cores (load 3-5): make test runs them.
    pytest.param("label2face", "ada", "float32", marks=pytest.mark.slow),
    pytest.param("stylegan2", "ada", "mixed_float16",
                 marks=pytest.mark.slow)])
def test_each_family_trains_with_augmentation(family, augment, precision,
                                              tiny_data_root, tmp_path):
  """Finite losses (float16 fakes: float32 math inside the transforms).

  No EMA copy of G (ema_beta=0) and no sample grid (image_every > steps):
  the augmentation is in the D and G steps only, which the EMA update
  follows and the sampler never calls.
  """
  every_step = {"ada_interval": 1} if augment == "ada" else {}
  config = CONFIGS[family](tiny_data_root, augment=augment, steps=2,
                           image_every=100, checkpoint_every=2,
                           eval_at_end=False, precision=precision,
                           ema_beta=0.0, **every_step)
  loop, results = _run(config, str(tmp_path))
  assert results["step"] == 2
  _assert_finite_and_traced_once(results, loop)
  assert ("d/augment_probability" in results["last"]["d"]) == (
      augment == "ada")


def test_unpaired_trains_with_ada_on_both_domains(anime_root, tmp_path):
  """Its own lsgan threshold (0.5) and CycleGAN's pool before the
  augmentation (no sample grid, image_every > steps: the sampler never
  augments)."""
  config = _unpaired(anime_root, augment="ada", steps=2, image_every=100,
                     checkpoint_every=2, eval_at_end=False)
  loop, results = _run(config, str(tmp_path))
  _assert_finite_and_traced_once(results, loop)
  assert "d/augment_probability" in results["last"]["d"]


def test_ada_p_moves_every_step_without_retrace_and_is_resumed(
    tiny_data_root, tmp_path):
  workdir = str(tmp_path)
  config = test_tasks_lightweight._config(
      tiny_data_root, augment="ada", ada_interval=1, ada_kimg=1, steps=4,
      checkpoint_every=4, image_every=100, eval_at_end=False, log_every=1,
      ema_beta=0.0)  # p is the task's state: no EMA copy, no sample grid.
  state = train.setup(config, workdir)
  p = state.checkpoint.ada_p
  p.assign(0.5)  # Away from the clip at 0: each update moves it.
  seen = []
  after_step = state.task.after_step

  def record(step, generator, discriminator):
    after_step(step, generator, discriminator)
    seen.append(float(p.numpy()))

  state.task.after_step = record
  loop = train.Loop(state)
  results = loop.run()
  # 4 images per update, 1,000 to move p by 1: +-0.004 a step.
  steps = np.diff([0.5] + seen)
  np.testing.assert_allclose(np.abs(steps), 0.004, rtol=1e-5)
  _assert_finite_and_traced_once(results, loop)
  # Read in the last D step, before the last update.
  np.testing.assert_allclose(
      results["last"]["d"]["d/augment_probability"], seen[-2], rtol=1e-6)
  saved = tf.train.load_checkpoint(
      tf.train.latest_checkpoint(checkpointing.checkpoint_dir(workdir)))
  np.testing.assert_allclose(
      saved.get_tensor("ada_p/.ATTRIBUTES/VARIABLE_VALUE"), seen[-1])
  resumed = train.setup(dataclasses.replace(
      config, train=dataclasses.replace(config.train, steps=6)), workdir)
  np.testing.assert_allclose(resumed.checkpoint.ada_p.numpy(), seen[-1])


@pytest.mark.parametrize("change,message", [
    ({"augment": "diffaug", "augment_policy": "color,flip"},
     r"--augment_policy='color,flip' has unknown \['flip'\]; use a "
     "comma-separated subset of color,translation,cutout"),
    ({"augment": "ada", "ada_target": 1.0},
     r"--ada_target=1.0 must be in \(0, 1\)"),
    ({"augment_policy": "color"},
     "--augment_policy=color is read by --augment=diffaug only; add "
     "--augment=diffaug or drop it"),
    ({"augment": "diffaug", "ada_kimg": 100},
     "--ada_kimg=100 is read by --augment=ada only"),
    ({"augment": "ada", "gan_loss": "wgan"},
     "--augment=ada steers by the sign of D.real., which a --gan_loss=wgan "
     "critic does not have"),
])
def test_bad_augment_settings_fail_in_one_line(change, message,
                                               tiny_data_root):
  config = config_lib.tiny_config(tiny_data_root, **change)
  with pytest.raises(ValueError, match=message) as info:
    tasks.validate(tasks.resolve_model(config))
  assert "\n" not in str(info.value)


@pytest.mark.parametrize("augment", ["diffaug", "ada"])
def test_generator_gradient_flows_through_the_augmentation(augment,
                                                           tiny_data_root):
  """The G step's adversarial term reaches every generator weight through
  D's augmented input (p = 1: every ADA transform on)."""
  config = test_tasks_lightweight._config(
      tiny_data_root, augment=augment)
  task = tasks.make_task(config)
  generator, discriminator = (task.build_generator(),
                              task.build_discriminator())
  state = task.build_state()
  if augment == "ada":
    state["ada_p"].assign(1.0)
  batch = {"image": tf.zeros([4, 32, 32, 3])}
  context = base.StepContext(step=tf.constant(0, tf.int64))
  with tf.GradientTape() as tape:
    terms = task.g_terms(generator, discriminator, batch, context).terms
  grads = tape.gradient(terms["adv"], generator.trainable_variables)
  assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0
             for g in grads)


def test_a_non_finite_augmented_image_stops_the_step_naming_a_layer(
    tiny_data_root, tmp_path, monkeypatch):
  """--check_numerics=grads: D's loss and then every D gradient go NaN;
  the guard stops at step 0 and names D's first bad layer."""
  real_augment = augment.diff_augment
  monkeypatch.setattr(augment, "diff_augment",
                      lambda image, *args: (real_augment(image, *args)[0] *
                                            np.nan, *args[1:]))
  config = test_tasks_lightweight._config(  # No EMA: it stops in D's step.
      tiny_data_root, augment="diffaug", ema_beta=0.0)
  with pytest.raises(numerics.NumericsError) as info:
    _run(config, str(tmp_path))
  text = str(info.value)
  assert "discriminator step at step 0" in text
  assert "non-finite in the forward pass: d/adv=nan" in text
  # Backprop order: the layer nearest D's loss (a reconstruction decoder).
  assert "first bad layer (backprop order): decoder_part/to_rgb/conv" in text


@pytest.mark.slow
def test_full_numerics_check_names_the_augmentation(tiny_data_root, tmp_path,
                                                    monkeypatch):
  """--check_numerics=full: the first NaN is the augmentation's own op."""
  real_augment = augment.diff_augment
  monkeypatch.setattr(augment, "diff_augment",
                      lambda image, *args: (tf.sqrt(real_augment(
                          image, *args)[0] - 10.0), *args[1:]))
  config = test_tasks_lightweight._config(
      tiny_data_root, augment="diffaug", check_numerics="full",
      ema_beta=0.0)  # No EMA: it stops in D's step.
  state = train.setup(config, str(tmp_path))
  with numerics.checking_every_op():  # After the build, as train.run.
    with pytest.raises(numerics.NumericsError) as info:
      train.Loop(state).run()
  assert str(info.value).startswith(
      "NaN or Inf at step 0 in the forward pass: first produced by op Sqrt "
      "in node augment/Sqrt")


_MIRRORED_RUN = test_ada.TWO_CPUS + """
import json, sys
from s2f_tf import config as config_lib
from s2f_tf import train
config = config_lib.Config.from_dict(json.loads(sys.argv[1]))
state = train.setup(config, sys.argv[2])
state.checkpoint.ada_p.assign(0.5)  # Each update moves it off 0.5.
results = train.Loop(state).run()
copies = state.strategy.experimental_local_results(state.checkpoint.ada_p)
print(json.dumps({"copies": [float(v.numpy()) for v in copies],
                  "d": results["last"]["d"]}))
"""


@pytest.mark.slow
def test_mirrored_training_keeps_one_p_on_both_replicas(tiny_data_root,
                                                       tmp_path):
  """--strategy=mirrored over 2 logical CPUs: ADA's p, updated every step
  from both replicas' sums, is the same on each and is what D logged."""
  config = test_tasks_lightweight._config(
      tiny_data_root, augment="ada", ada_interval=1, ada_kimg=1,
      strategy="mirrored", steps=3, log_every=1, image_every=3,
      checkpoint_every=3, eval_at_end=False)
  result = subprocess.run(
      [sys.executable, "-c", _MIRRORED_RUN, json.dumps(config.to_dict()),
       str(tmp_path)], capture_output=True, text=True, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  first, second = out["copies"]
  assert first == second
  # 3 updates of +-4 images / 1,000 (both replicas' 2 each): an odd sum.
  assert min(abs(abs(first - 0.5) - d) for d in (0.004, 0.012)) < 1e-6
  assert all(np.isfinite(v) for v in out["d"].values())
  assert "d/augment_probability" in out["d"]
