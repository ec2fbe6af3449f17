"""The baselines and options on the shared loop: DCGAN/WGAN, CAM, R2, decay."""

import os

import numpy as np
from PIL import Image
import pytest

from s2f_tf import config as config_lib
from s2f_tf import train


def _dcgan_config(root, gan_loss, **train_overrides):
  base = config_lib.tiny_config(root=root)
  return config_lib.Config(
      data=config_lib.DataConfig(**{**base.data.__dict__, "image_size": 32}),
      model=config_lib.ModelConfig(model="dcgan", base_channels=8, z_dim=16),
      train=config_lib.TrainConfig(**{
          **base.train.__dict__, "gan_loss": gan_loss, "ema_beta": 0.0,
          "g_lr": 2e-4, "d_lr": 2e-4, "beta1": 0.5, **train_overrides}))


@pytest.mark.parametrize("gan_loss", ["non_saturating", "lsgan", "hinge",
                                      "wgan", "wgan_gp"])
def test_dcgan_trains_with_every_objective(gan_loss, tiny_data_root, tmp_path):
  config = _dcgan_config(tiny_data_root, gan_loss, steps=4, n_critic=2,
                         image_every=2, checkpoint_every=4)
  state = train.setup(config, str(tmp_path))
  results = train.Loop(state).run()
  assert results["step"] == 4
  assert all(np.isfinite(v) for v in results["last"]["g"].values())
  assert os.path.exists(results["progress_gif"])
  if gan_loss == "wgan":
    clip = config.train.wgan_clip
    for v in state.discriminator.trainable_variables:
      assert np.abs(v.numpy()).max() <= clip + 1e-7, v.path
  if gan_loss in ("wgan", "wgan_gp"):
    kinds = {type(l).__name__ for l in state.discriminator._flatten_layers()}  # pylint: disable=protected-access
    assert "BatchNormalization" not in kinds


def test_wgan_gp_dcgan_200_steps_does_not_collapse(tiny_data_root, tmp_path):
  config = _dcgan_config(tiny_data_root, "wgan_gp", steps=200, n_critic=1,
                         batch_size=8, g_lr=1e-3, d_lr=1e-3, beta1=0.0,
                         beta2=0.9, image_every=50, checkpoint_every=200,
                         log_every=50)
  results = train.run(config, str(tmp_path))
  assert results["step"] == 200
  assert np.isfinite(results["last"]["d"]["d_total"])
  assert results["last"]["g"]["output_std"] > 0.05  # Samples still vary.
  with Image.open(results["progress_gif"]) as gif:
    assert gif.n_frames >= 2


def test_cam_r2_and_weight_decay_terms_train(tiny_config, tmp_path):
  base = tiny_config(steps=3, r2_gamma=1.0, r1_interval=1, weight_decay=1e-4,
                     lambda_cam=1.0)
  config = config_lib.Config(
      data=base.data,
      model=config_lib.ModelConfig(**{**base.model.__dict__, "cam": True}),
      train=base.train)
  state = train.setup(config, str(tmp_path))
  loop = train.Loop(state)
  results = loop.run()
  d, g = results["last"]["d"], results["last"]["g"]
  assert {"d_cam", "d_r2", "d_l2"} <= set(d)
  assert {"g_cam", "g_l2"} <= set(g)
  assert all(np.isfinite(v) for v in list(d.values()) + list(g.values()))
