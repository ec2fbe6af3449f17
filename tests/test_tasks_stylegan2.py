"""StyleGAN2 on the shared loop: flags, lazy regularisers, precision,
numerics, export, the truncation and mixing grids, projector embeddings."""

import dataclasses
import types

import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf import numerics
from s2f_tf import tasks
from s2f_tf import train
from s2f_tf.tasks import stylegan2 as stylegan2_task


def _config(root, image_size=16, pl_interval=2, **train_overrides):
  base = config_lib.tiny_config(root=root)
  return config_lib.with_task(config_lib.Config(
      data=dataclasses.replace(base.data, image_size=image_size),
      model=config_lib.ModelConfig(base_channels=4),
      train=dataclasses.replace(base.train, **{
          "gan_loss": "non_saturating", "r1_gamma": 1.0, "r1_interval": 2,
          "steps": 2, "image_every": 2, "checkpoint_every": 2,
          **train_overrides})), "stylegan2", "stylegan2", z_dim=8,
                              mapping_layers=2, pl_interval=pl_interval)


@pytest.mark.parametrize("change, message", [
    ({"image_size": 48}, "--model=stylegan2 needs --image_size a power of two"),
    ({"batch_size": 6}, "--batch_size a multiple of 4"),
])
def test_bad_flag_combinations_fail_in_one_line(change, message, tmp_path):
  config = _config(str(tmp_path), image_size=change.get("image_size", 16),
                   batch_size=change.get("batch_size", 4))
  with pytest.raises(ValueError, match=message) as info:
    tasks.validate(config)
  assert "\n" not in str(info.value)


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_trains_under_mixed_precision(precision, tiny_data_root, tmp_path):
  """R1 and path length every step. Only the steps are checked: no EMA
  copy of G (ema_beta=0) and no sample grid (image_every > steps);
  test_train's mixed-precision steps update an EMA copy and
  test_tasks_lightweight's mixed-precision runs draw grids."""
  config = _config(tiny_data_root, precision=precision, r1_interval=1,
                   pl_interval=1, ema_beta=0.0, image_every=100)
  results = train.run(config, str(tmp_path))
  assert results["step"] == 2
  for player in ("d", "g"):
    assert all(np.isfinite(v) for v in results["last"][player].values())
  assert "g/pl" in results["last"]["g"] and "d/r1" in results["last"]["d"]


@pytest.mark.slow
def test_numerics_guard_names_demodulation_and_path_length(tiny_data_root,
                                                          tmp_path):
  """Both runs stop in their first step, before any EMA update or R1 term
  could matter: neither is built (ema_beta=0, r1_gamma=0), so D's step
  traces no gradient penalty (under --check_numerics=full, a check on
  each of its ops)."""
  lean = dict(ema_beta=0.0, r1_gamma=0.0)
  config = _config(tiny_data_root, check_numerics="full", **lean)
  state = train.setup(config, str(tmp_path / "demod"))
  conv = state.generator.synthesis.stages[1][1][0]  # b8_conv0
  conv.kernel.assign(conv.kernel * 1e25)  # Demodulation's sum overflows.
  with numerics.checking_every_op():  # After the build, as train.run.
    with pytest.raises(numerics.NumericsError) as info:
      train.Loop(state).run()
  assert "in layer stylegan2_generator/synthesis/b8_conv0" in str(info.value)

  state = train.setup(_config(tiny_data_root, **lean), str(tmp_path / "pl"))
  state.generator.pl_mean.assign(np.inf)
  with pytest.raises(numerics.NumericsError) as info:
    train.Loop(state).run()
  assert "generator step at step 0" in str(info.value)
  assert "g/pl=nan" in str(info.value)


@pytest.fixture(scope="module")
def trained(tiny_data_root, tmp_path_factory):
  """A 2-step train.run of `_config` (r1 and path length every 2 steps):
  `state`, the RunState the run trained (its steps traced by the loop), for
  test_lazy_r1_and_path_length_run_as_their_own_steps; `task` and
  `generator` restored from its checkpoint, for the export, grid and
  projector tests."""
  workdir = str(tmp_path_factory.mktemp("sg2"))
  states, setup = [], train.setup
  with pytest.MonkeyPatch.context() as patch:  # Keeps what train.run built.
    patch.setattr(train, "setup",
                  lambda *args: states.append(setup(*args)) or states[-1])
    assert train.run(_config(tiny_data_root), workdir)["step"] == 2
  task, generator, _ = tasks.restore(workdir)
  return types.SimpleNamespace(state=states[0], task=task,
                               generator=generator, workdir=workdir)


def test_lazy_r1_and_path_length_run_as_their_own_steps(trained):
  """On the shared run's state, after its 2 steps (step 0 regularised both
  players): calls its step functions again, already traced by the loop."""
  steps = trained.state.steps
  assert [steps.step_for("g", i)[0] for i in range(4)] == [
      "train/g_step_reg", "train/g_step", "train/g_step_reg", "train/g_step"]
  batch = next(iter(trained.state.dataset))
  g = trained.state.generator
  before_pl, before_w = g.pl_mean.numpy(), g.w_avg.numpy()
  out = steps.function("g_step_reg")(batch).measurements
  pl_mean = g.pl_mean.numpy()
  assert pl_mean > 0 and out["g/pl"].numpy() > 0
  assert pl_mean != before_pl  # The regularising step moved pl_mean.
  np.testing.assert_allclose(out["g/pl_mean"].numpy(), pl_mean)
  assert "g/pl" not in steps.function("g_step")(batch).measurements
  np.testing.assert_allclose(g.pl_mean.numpy(), pl_mean)  # Lazy: unchanged.
  assert np.abs(g.w_avg.numpy() - before_w).max() > 0  # G steps move w_avg.
  assert "d/r1" in steps.function("d_step_reg")(batch).measurements


def test_export_generate_and_mapping_signatures(trained, tmp_path):
  task, generator = trained.task, trained.generator
  path = export.export(task, generator, str(tmp_path))  # Verifies 1e-5.
  loaded = tf.saved_model.load(path).signatures
  assert set(loaded) == {"serving_default", "serving_float", "generate",
                         "mix", "mapping"}
  z = tf.random.normal([3, 8])
  np.testing.assert_allclose(loaded["mapping"](z=z)["w"].numpy(),
                             generator.map(z).numpy(), atol=1e-5)
  average = loaded["generate"](z=z, psi=tf.constant(0.0))["image"].numpy()
  assert average.dtype == np.uint8 and (average == average[:1]).all()
  full = loaded["generate"](z=z, psi=tf.constant(1.0))["image"].numpy()
  np.testing.assert_array_equal(
      full, loaded["serving_default"](z=z)["image"].numpy())


def test_truncation_and_mixing_grids(trained):
  g = trained.generator
  rng = np.random.RandomState(0)
  z = rng.randn(3, 8).astype(np.float32)
  grid = stylegan2_task.truncation_grid(g, z, [1.0, 0.0])
  tile = grid.shape[0] // 3
  assert grid.shape == (3 * tile, 2 * tile, 3)
  psi0 = [grid[i * tile:(i + 1) * tile, tile:] for i in range(3)]
  assert all((p == psi0[0]).all() for p in psi0)  # psi = 0: the mean face.
  cols = rng.randn(2, 8).astype(np.float32)
  # cutoff = num_ws: every layer from the column latent; 0: from the row's.
  all_col = stylegan2_task.style_mixing_grid(g, z, cols, g.num_ws)
  all_row = stylegan2_task.style_mixing_grid(g, z, cols, 0)
  assert all_col.shape == (4 * tile, 3 * tile, 3)
  top = all_col[:tile, tile:]
  for i in range(1, 4):
    np.testing.assert_array_equal(all_col[i * tile:(i + 1) * tile, tile:], top)
    row = all_row[i * tile:(i + 1) * tile]
    np.testing.assert_array_equal(row[:, tile:2 * tile], row[:, :tile])


def test_projector_exports_w_vectors(trained):
  task, g = trained.task, trained.generator
  w = task.embeddings(g, "heldout", 5, ("w",))["w"]
  z = np.random.RandomState(task.config.train.seed).randn(5, 8)
  np.testing.assert_allclose(w.values, g.map(tf.constant(z, tf.float32)),
                             rtol=1e-5, atol=1e-6)
  assert w.images.shape == (5, 16, 16, 3) and w.images.dtype == np.uint8

