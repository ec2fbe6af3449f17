"""Tests for s2f_tf.losses against NumPy references."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import losses


def _softplus(x):
  return np.log1p(np.exp(x))


# name -> (generator reference, discriminator reference), elementwise.
REFERENCES = {
    "hinge": (lambda f: -f,
              lambda r, f: np.maximum(0, 1 - r) + np.maximum(0, 1 + f)),
    "non_saturating": (lambda f: _softplus(-f),
                       lambda r, f: _softplus(-r) + _softplus(f)),
    "lsgan": (lambda f: 0.5 * (f - 1)**2,
              lambda r, f: 0.5 * (r - 1)**2 + 0.5 * f**2),
    "wgan": (lambda f: -f, lambda r, f: f - r),
}


def _logits(seed, shape=(4, 3, 3, 1)):
  return np.random.RandomState(seed).randn(*shape).astype("float32")


def test_registry_covers_every_configurable_loss():
  assert set(losses.GAN_LOSSES) == set(config_lib.GAN_LOSSES)
  assert losses.GAN_LOSSES["wgan_gp"] == losses.GAN_LOSSES["wgan"]


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_gan_losses_match_numpy(name):
  g_fn, d_fn = losses.GAN_LOSSES[name]
  g_ref, d_ref = REFERENCES[name]
  real, fake = _logits(0), _logits(1)
  g_loss, d_loss = g_fn(fake), d_fn(real, fake)
  assert g_loss.dtype == tf.float32 and g_loss.shape == ()
  np.testing.assert_allclose(g_loss.numpy(), g_ref(fake).mean(), rtol=1e-5)
  np.testing.assert_allclose(d_loss.numpy(), d_ref(real, fake).mean(),
                             rtol=1e-5)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_multi_scale_lists_average_over_scales(name):
  g_fn, d_fn = losses.GAN_LOSSES[name]
  g_ref, d_ref = REFERENCES[name]
  real = [_logits(0), _logits(1, (4, 2, 2, 1))]
  fake = [_logits(2), _logits(3, (4, 2, 2, 1))]
  np.testing.assert_allclose(
      g_fn(fake).numpy(), np.mean([g_ref(f).mean() for f in fake]), rtol=1e-5)
  np.testing.assert_allclose(
      d_fn(real, fake).numpy(),
      np.mean([d_ref(r, f).mean() for r, f in zip(real, fake)]), rtol=1e-5)


def test_half_precision_inputs_give_float32_losses():
  fake = tf.constant(_logits(0), tf.float16)
  for g_fn, d_fn in losses.GAN_LOSSES.values():
    assert g_fn(fake).dtype == tf.float32
    assert d_fn(fake, fake).dtype == tf.float32


def _linear_critic(lipschitz, shape=(4, 5, 5, 3)):
  w = np.random.RandomState(0).randn(*shape[1:]).astype("float32")
  w *= lipschitz / np.linalg.norm(w)
  return lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])


def test_gradient_penalty_of_a_1_lipschitz_linear_critic_is_zero():
  real, fake = _logits(0, (4, 5, 5, 3)), _logits(1, (4, 5, 5, 3))
  gp = losses.wasserstein_gradient_penalty(_linear_critic(1.0), real, fake)
  assert gp.dtype == tf.float32
  np.testing.assert_allclose(gp.numpy(), 0.0, atol=1e-6)
  gp = losses.wasserstein_gradient_penalty(_linear_critic(3.0), real, fake)
  np.testing.assert_allclose(gp.numpy(), 4.0, rtol=1e-5)


def test_gradient_penalty_trains_a_multi_scale_critic():
  conv = keras.layers.Conv2D(1, 3)
  pool = keras.layers.AveragePooling2D(2)
  critic = lambda x: [conv(x), conv(pool(x))]
  real, fake = _logits(0, (2, 8, 8, 3)), _logits(1, (2, 8, 8, 3))
  critic(real)
  with tf.GradientTape() as tape:
    gp = losses.wasserstein_gradient_penalty(critic, real, fake)
  grads = tape.gradient(gp, conv.trainable_variables)
  assert np.isfinite(gp.numpy())
  assert grads[0] is not None and np.any(grads[0].numpy() != 0)


@pytest.mark.parametrize("penalty", [losses.r1_penalty, losses.r2_penalty])
def test_r1_r2_are_half_the_squared_gradient_norm(penalty):
  images = _logits(0, (4, 5, 5, 3))
  np.testing.assert_allclose(
      penalty(_linear_critic(2.0), images).numpy(), 0.5 * 2.0**2, rtol=1e-5)


def test_feature_matching_matches_numpy_and_stops_real_gradient():
  real = [[_logits(0), _logits(1, (4, 2, 2, 8))], [_logits(2)]]
  fake = [[_logits(3), _logits(4, (4, 2, 2, 8))], [_logits(5)]]
  expected = np.mean([np.abs(f - r).mean() for r, f in
                      zip([real[0][0], real[0][1], real[1][0]],
                          [fake[0][0], fake[0][1], fake[1][0]])])
  real_var = tf.Variable(real[1][0])
  with tf.GradientTape() as tape:
    loss = losses.feature_matching_loss([real[0], [real_var]], fake)
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
  assert tape.gradient(loss, real_var) is None


def test_l1_reconstruction_matches_numpy():
  target, generated = _logits(0, (2, 4, 4, 3)), _logits(1, (2, 4, 4, 3))
  np.testing.assert_allclose(
      losses.l1_reconstruction_loss(target, generated).numpy(),
      np.abs(generated - target).mean(), rtol=1e-5)


@pytest.mark.parametrize("fn", [losses.cycle_loss, losses.identity_loss])
def test_cycle_and_identity_losses_are_l1_per_image(fn):
  real = _logits(0, (3, 4, 4, 3))
  # bfloat16 as a mixed-precision generator hands it in: still float32 out.
  other = tf.cast(tf.constant(_logits(1, (3, 4, 4, 3))), tf.bfloat16)
  loss = fn(real, other)
  assert loss.dtype == tf.float32 and loss.shape == ()
  reference = np.abs(tf.cast(other, tf.float32).numpy() - real).mean()
  np.testing.assert_allclose(loss.numpy(), reference, rtol=1e-6)
  real_var = tf.Variable(real)
  with tf.GradientTape() as tape:
    grad_loss = fn(real, real_var * 1.0 + 0.5)
  # d mean|x + 0.5 - x| / dx = sign(0.5) / N for every element.
  np.testing.assert_allclose(tape.gradient(grad_loss, real_var).numpy(),
                             np.full(real.shape, 1.0 / real.size), rtol=1e-6)


def test_ugatit_losses_from_ours():
  """U-GAT-IT's terms, written as the authors' code writes them (MSE and
  BCE-with-logits means, summed over the global and local D), against the
  losses the unpaired task composes them from (`models.ugatit` docstring)."""
  rng = np.random.RandomState(0)
  mse = lambda x, t: np.mean((x - t)**2)
  bce = lambda x, t: np.mean(np.log1p(np.exp(-x)) if t else np.log1p(np.exp(x)))
  patches = [rng.randn(2, 8, 8, 1).astype("float32"),
             rng.randn(2, 32, 32, 1).astype("float32")]
  fakes = [rng.randn(*p.shape).astype("float32") for p in patches]
  cams = [rng.randn(2, 2).astype("float32") for _ in range(2)]
  fake_cams = [rng.randn(2, 2).astype("float32") for _ in range(2)]
  # D: MSE(real, 1) + MSE(fake, 0) for outputs and CAM logits, both Ds.
  for real, fake in ((patches, fakes), (cams, fake_cams)):
    paper = sum(mse(r, 1) + mse(f, 0) for r, f in zip(real, fake))
    np.testing.assert_allclose(
        4 * losses.lsgan_discriminator_loss(real, fake).numpy(), paper,
        rtol=1e-5)
    paper = sum(mse(f, 1) for f in fake)
    np.testing.assert_allclose(4 * losses.lsgan_generator_loss(fake).numpy(),
                               paper, rtol=1e-5)
  # G's CAM: BCE(source-domain logits, 1) + BCE(target-domain logits, 0).
  source, target = cams
  np.testing.assert_allclose(
      losses.cam_discriminator_loss(source, target).numpy(),
      bce(source, 1) + bce(target, 0), rtol=1e-5)


def test_kl_divergence_matches_the_gaussian_closed_form():
  mu, logvar = _logits(0, (3, 4)), _logits(1, (3, 4))
  var = np.exp(logvar)
  expected = np.mean(np.sum(0.5 * (var + mu**2 - 1 - logvar), axis=1))
  np.testing.assert_allclose(
      losses.kl_divergence_loss(mu, logvar).numpy(), expected, rtol=1e-5)
  assert losses.kl_divergence_loss(np.zeros((2, 4)),
                                   np.zeros((2, 4))).numpy() == 0.0


def test_perceptual_loss_weights_each_layer_and_stops_real_gradient():
  features = lambda x: [x, 2.0 * x[:, ::2, ::2]]
  real, fake = _logits(0, (2, 4, 4, 3)), _logits(1, (2, 4, 4, 3))
  expected = (0.5 * np.abs(fake - real).mean() +
              3.0 * np.abs(2 * fake[:, ::2, ::2] - 2 * real[:, ::2, ::2]).mean())
  real_var = tf.Variable(real)
  with tf.GradientTape() as tape:
    loss = losses.perceptual_loss(features, real_var, fake, weights=(0.5, 3.0))
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
  assert tape.gradient(loss, real_var) is None
  with pytest.raises(ValueError, match="2 feature maps for 5 weights"):
    losses.perceptual_loss(features, real, fake)
