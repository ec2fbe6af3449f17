"""LightweightGAN (FastGAN) on the shared loop: flags, D's reconstruction
term, mixed precision, export."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import export
from s2f_tf import tasks
from s2f_tf import train


def _config(root, image_size=32, lambda_recon=1.0, **train_overrides):
  base = config_lib.tiny_config(root=root)
  return config_lib.with_task(config_lib.Config(
      data=dataclasses.replace(base.data, image_size=image_size),
      model=config_lib.ModelConfig(base_channels=4),
      train=dataclasses.replace(base.train, **{
          "gan_loss": "hinge", "steps": 2, "image_every": 2,
          "checkpoint_every": 2, **train_overrides})), "lightweight",
                              "lightweight", z_dim=8,
                              lambda_recon=lambda_recon)


def test_bad_image_size_fails_in_one_line(tmp_path):
  with pytest.raises(ValueError, match="--model=lightweight: .*32, 64, 128 "
                     "or 256, got 48") as info:
    tasks.validate(_config(str(tmp_path), image_size=48))
  assert "\n" not in str(info.value)


def test_d_pays_the_weighted_reconstruction_loss(tiny_data_root, tmp_path):
  # No EMA copy of G (ema_beta=0): only D's step runs here.
  state = train.setup(_config(tiny_data_root, lambda_recon=0.0, ema_beta=0.0),
                      str(tmp_path / "off"))
  batch = next(iter(state.dataset))
  d_step = state.steps.function("d_step")
  assert d_step(batch).measurements["d/recon"].numpy() == 0.0
  state = train.setup(_config(tiny_data_root, lambda_recon=2.0, ema_beta=0.0),
                      str(tmp_path / "on"))
  d = state.discriminator
  before = {v.path: v.numpy() for v in d.trainable_variables
            if v.path.startswith("decoder_")}
  recon = state.steps.function("d_step")(batch).measurements[
      "d/recon"].numpy()
  assert 0.0 < recon < 2.0 * 2.0  # 2 x L1 of [-1, 1] images.
  assert any(not np.allclose(before[v.path], v.numpy())
             for v in d.trainable_variables if v.path in before)


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_trains_under_mixed_precision_and_exports(precision, tiny_data_root,
                                                  tmp_path):
  """Without an EMA copy (ema_beta=0) restore serves the trained G itself:
  the same mixed-precision -> float32 path, one network less to build."""
  workdir = str(tmp_path / "run")
  results = train.run(_config(tiny_data_root, precision=precision,
                              ema_beta=0.0), workdir)
  assert all(np.isfinite(v) for v in results["last"]["d"].values())
  task, generator, _ = tasks.restore(workdir)  # float32 for serving.
  path = export.export(task, generator, str(tmp_path / "export"))
  z = tf.random.normal([2, 8])
  np.testing.assert_allclose(
      tf.saved_model.load(path).signatures["serving_float"](z=z)["image"],
      generator(z, training=False), atol=1e-5)

