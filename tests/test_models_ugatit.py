"""Tests for U-GAT-IT's generator (full and light) and CAM discriminator."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import losses
from s2f_tf import precision
from s2f_tf.models import ugatit

SIZE, CH, N_RES = 32, 4, 2


def _images(seed, batch=2, size=SIZE):
  return tf.constant(np.random.RandomState(seed).uniform(
      -1, 1, (batch, size, size, 3)), tf.float32)


def _numpy_cam(features, w_gap, w_gmp, kernel, bias, slope):
  """U-GAT-IT's CAM: GAP/GMP logits, reweighted maps, 1x1 conv, heatmap."""
  logits = np.concatenate([features.mean((1, 2)) @ w_gap,
                           features.max((1, 2)) @ w_gmp], axis=1)
  maps = np.concatenate([features * w_gap[:, 0], features * w_gmp[:, 0]], -1)
  y = maps @ kernel[0, 0] + bias
  y = np.where(y > 0, y, slope * y)
  return logits, y.sum(-1, keepdims=True)


def test_generator_cam_logits_and_heatmap_match_numpy():
  keras.utils.set_random_seed(0)
  g = ugatit.build_ugatit_generator(16, 2, 1)
  x = _images(0, size=16)
  out = g(x)
  features = g.encoder(x).numpy()
  kernel, bias = (v.numpy() for v in g.cam.conv.weights)
  logits, heatmap = _numpy_cam(features, g.cam.gap_fc.kernel.numpy(),
                               g.cam.gmp_fc.kernel.numpy(), kernel, bias, 0.0)
  np.testing.assert_allclose(out["cam_logits"].numpy(), logits, rtol=1e-4,
                             atol=1e-5)
  np.testing.assert_allclose(out["heatmap"].numpy(), heatmap, rtol=1e-4,
                             atol=1e-4)
  assert out["heatmap"].shape == (2, 4, 4, 1)


def test_discriminator_cam_logits_and_heatmap_match_numpy():
  """Spectral norm: each weight is divided by its sigma (inference: no u
  update, so the sigma read afterwards is the one the call used)."""
  keras.utils.set_random_seed(1)
  d = ugatit.build_ugatit_discriminator(SIZE, CH, 4)
  x = _images(1)
  out = d(x)
  features = x
  for conv in d.convs:
    features = tf.nn.leaky_relu(conv(features), 0.2)
  cam = d.cam
  sn_kernel = lambda fc: (fc.layer.kernel / fc.sigma()).numpy()
  logits, heatmap = _numpy_cam(
      features.numpy(), sn_kernel(cam.gap_fc), sn_kernel(cam.gmp_fc),
      sn_kernel(cam.conv), cam.conv.layer.bias.numpy(), 0.2)
  np.testing.assert_allclose(out["cam_logits"].numpy(), logits, rtol=1e-4,
                             atol=1e-5)
  np.testing.assert_allclose(out["heatmap"].numpy(), heatmap, rtol=1e-4,
                             atol=1e-4)
  assert out["logits"].shape == out["heatmap"].shape == (2, 8, 8, 1)


@pytest.mark.parametrize("light", [False, True])
def test_rho_stays_in_unit_interval_after_an_update_that_pushes_it_out(light):
  g = ugatit.build_ugatit_generator(16, 2, N_RES, light)
  rhos = [v for v in g.trainable_variables if v.path.endswith("/rho")]
  # Two AdaLINs per decoder block, one LIN per up-block.
  assert len(rhos) == 2 * N_RES + ugatit.DOWNSAMPLE
  rng = np.random.RandomState(0)
  grads = [tf.constant(rng.choice([-1.0, 1.0], v.shape), tf.float32)
           if v.path.endswith("/rho") else tf.zeros_like(v)
           for v in g.trainable_variables]
  keras.optimizers.Adam(3.0).apply(grads, g.trainable_variables)  # Moves 3.
  values = np.concatenate([v.numpy() for v in rhos])
  assert values.min() == 0.0 and values.max() == 1.0
  assert set(np.unique(values)) == {0.0, 1.0}


@pytest.mark.parametrize("light", [False, True])
def test_mixed_bfloat16_outputs_are_float32(light):
  with precision.precision_policy("mixed_bfloat16"):
    g = ugatit.build_ugatit_generator(SIZE, CH, N_RES, light)
    d = ugatit.build_ugatit_discriminator(SIZE, CH, 5)
  assert g.encoder.layers[0].compute_dtype == "bfloat16"
  assert d.convs[0].layer.compute_dtype == "bfloat16"
  out = g(_images(2), training=True)
  judged = d(out["image"], training=True)
  shapes = {k: v.shape for k, v in {**out, **{"d_" + k: v for k, v in
                                              judged.items()}}.items()}
  assert shapes == {"image": (2, SIZE, SIZE, 3), "cam_logits": (2, 2),
                    "heatmap": (2, SIZE // 4, SIZE // 4, 1),
                    "d_logits": (2, 4, 4, 1), "d_cam_logits": (2, 2),
                    "d_heatmap": (2, 4, 4, 1)}
  for t in [*out.values(), *judged.values()]:
    assert t.dtype == tf.float32 and np.isfinite(t.numpy()).all()
  assert np.abs(out["image"].numpy()).max() <= 1.0


@pytest.mark.parametrize("size,ch,n_res", [(16, 2, 1), (24, 3, 2)])
def test_parameter_counts_match_the_formula(size, ch, n_res):
  full = ugatit.build_ugatit_generator(size, ch, n_res, light=False)
  light = ugatit.build_ugatit_generator(size, ch, n_res, light=True)
  assert full.count_params() == ugatit.generator_parameter_count(
      size, ch, n_res, light=False)
  assert light.count_params() == ugatit.generator_parameter_count(
      size, ch, n_res, light=True)
  m, width = size // 4, 4 * ch
  assert full.count_params() - light.count_params() == (m * m - 1) * width**2


def test_paper_sizes_from_the_formula():
  """At 256 px and 64 channels the full MLP's first layer is the model."""
  full = ugatit.generator_parameter_count(256)
  light = ugatit.generator_parameter_count(256, light=True)
  assert full - light == (64 * 64 - 1) * 256**2
  assert (round(full / 1e6, 1), round(light / 1e6, 1)) == (279.0, 10.6)


def test_gradients_reach_every_trainable_variable():
  keras.utils.set_random_seed(3)
  g = ugatit.build_ugatit_generator(SIZE, CH, N_RES, light=True)
  global_d, local_d = (ugatit.build_ugatit_discriminator(SIZE, CH, n)
                       for n in ugatit.discriminator_layers(SIZE))
  real_a, real_b = _images(4), _images(5)
  with tf.GradientTape(persistent=True) as tape:
    a2b, b2b = g(real_a, training=True), g(real_b, training=True)
    fake = [d(a2b["image"], training=True) for d in (global_d, local_d)]
    real = [d(real_b, training=True) for d in (global_d, local_d)]
    g_loss = (losses.lsgan_generator_loss([f["logits"] for f in fake])
              + losses.identity_loss(real_b, b2b["image"])
              + losses.cam_discriminator_loss(a2b["cam_logits"],
                                              b2b["cam_logits"]))
    d_loss = sum(losses.lsgan_discriminator_loss(
        [r[key] for r in real], [f[key] for f in fake])
                 for key in ("logits", "cam_logits"))
  for loss, model in [(g_loss, g), (d_loss, global_d), (d_loss, local_d)]:
    grads = tape.gradient(loss, model.trainable_variables)
    dead = [v.path for v, gr in zip(model.trainable_variables, grads)
            if gr is None or not np.any(gr.numpy())]
    assert not dead


def test_discriminator_layers_fit_the_image():
  assert ugatit.discriminator_layers(256) == (7, 5)
  assert ugatit.discriminator_layers(64) == (6, 4)
  assert ugatit.discriminator_layers(32) == (5, 3)
  for size in (64, 32):
    for n in ugatit.discriminator_layers(size):
      d = ugatit.build_ugatit_discriminator(size, 1, n)
      patch = -(-size // 2**(n - 2))
      assert d(tf.zeros([1, size, size, 3]))["logits"].shape == (1, patch,
                                                                 patch, 1)
  with pytest.raises(ValueError, match="image_size >= 17"):
    ugatit.discriminator_layers(16)


def test_bad_sizes_name_the_fix():
  with pytest.raises(ValueError, match="discriminator_layers"):
    ugatit.build_ugatit_discriminator(SIZE, CH, n_layers=7)
  with pytest.raises(ValueError, match="multiple of 4"):
    ugatit.build_ugatit_generator(30, CH)
  with pytest.raises(ValueError, match="n_res=0"):
    ugatit.build_ugatit_generator(SIZE, CH, n_res=0)


def test_two_generators_never_share_a_variable_path():
  a2b = ugatit.build_ugatit_generator(16, 2, 1, name="generator_a2b")
  b2a = ugatit.build_ugatit_generator(16, 2, 1, name="generator_b2a")
  paths = [v.path for v in a2b.variables + b2a.variables]
  assert len(set(paths)) == len(paths)
  assert "generator_a2b/decoder_block_0/adalin_1/rho" in paths


@pytest.mark.parametrize("build", [
    lambda: ugatit.build_ugatit_generator(16, 2, 1, light=True, name="g"),
    lambda: ugatit.build_ugatit_discriminator(SIZE, 2, 4, name="d"),
])
def test_config_round_trip_rebuilds_the_same_network(build):
  model = build()
  clone = type(model).from_config(model.get_config())
  x = _images(6, size=model.image_size)
  clone(x)
  clone.set_weights(model.get_weights())
  assert [v.path for v in clone.variables] == [v.path for v in model.variables]
  for key, value in model(x).items():
    np.testing.assert_allclose(clone(x)[key].numpy(), value.numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", ["ugatit", "cyclegan"])
def test_residual_output_starts_as_the_identity_then_adds_the_last_conv(
    model):
  """--residual_output: clip(x + to_rgb(...)), to_rgb zeroed at the start,
  so both directions return their input exactly; once to_rgb moves, the
  output is the input plus what tanh(to_rgb) would have been before tanh.
  Off in every paper preset."""
  from s2f_tf.models import unpaired  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(7)
  residual = unpaired.build_generator(model, SIZE, CH, 1, light=True,
                                      residual_output=True)
  x = tf.concat([_images(8, batch=1), tf.fill([1, SIZE, SIZE, 3], -1.0)],
                axis=0)  # Saturated pixels pass through unchanged too.
  for direction in unpaired.DIRECTIONS:
    image = residual.translate(direction, x)["image"]
    assert image.dtype == tf.float32
    np.testing.assert_array_equal(image.numpy(), x.numpy())
  # Move every weight; the same weights with tanh give the last conv's map.
  for v in residual.trainable_variables:
    v.assign(v + 0.05 * tf.random.normal(v.shape, seed=1))
  plain = unpaired.build_generator(model, SIZE, CH, 1, light=True)
  plain.set_weights(residual.get_weights())
  out = residual.translate("a2b", x)["image"].numpy()
  pre_tanh = np.arctanh(np.clip(plain.translate("a2b", x)["image"].numpy(),
                                -0.999, 0.999))
  assert np.abs(pre_tanh).max() < 3.0  # Not saturated: atanh is exact.
  np.testing.assert_allclose(out, np.clip(x.numpy() + pre_tanh, -1, 1),
                             atol=2e-4)
  assert not np.array_equal(out, x.numpy())
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for preset in ("ugatit_selfie2anime_256", "ugatit_light_256",
                 "cyclegan_256"):
    with open(os.path.join(repo, "flags", f"{preset}.cfg")) as f:
      assert "residual_output" not in f.read()
