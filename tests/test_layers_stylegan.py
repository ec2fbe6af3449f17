"""Tests for the StyleGAN2 and FastGAN layers and the path-length penalty."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import losses
from s2f_tf import precision
from s2f_tf.layers import equalized
from s2f_tf.layers import excitation
from s2f_tf.layers import modulated_conv


def test_equalized_dense_stores_unit_normal_and_scales_at_run_time():
  keras.utils.set_random_seed(0)
  layer = equalized.EqualizedDense(128, lr_multiplier=0.01, bias_init=1.0)
  x = np.random.RandomState(0).randn(8, 64).astype(np.float32)
  y = layer(x).numpy()
  kernel = layer.kernel.numpy()
  # Stored ~N(0, 1 / lr), not N(0, 1 / fan_in): the He constant is not baked in.
  assert abs(kernel.std() * 0.01 - 1.0) < 0.05
  expected = x @ (kernel * 0.01 / np.sqrt(64)) + layer.bias.numpy() * 0.01
  np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(layer.bias.numpy() * 0.01, 1.0)
  # Changing the stored kernel changes the output through the same constant.
  layer.kernel.assign(np.ones_like(kernel))
  np.testing.assert_allclose(
      layer(x).numpy(),
      np.broadcast_to(x.sum(1, keepdims=True) * 0.01 / 8 + 1.0, y.shape),
      rtol=1e-5)


def test_equalized_conv_matches_conv_with_he_scaled_kernel_and_lrelu_gain():
  keras.utils.set_random_seed(1)
  layer = equalized.EqualizedConv2D(5, 3, activation="lrelu")
  x = tf.random.normal([2, 6, 6, 4])
  y = layer(x).numpy()
  kernel = layer.kernel.numpy()
  assert abs(kernel.std() - 1.0) < 0.2
  ref = tf.nn.conv2d(x, kernel / np.sqrt(3 * 3 * 4), 1, "SAME").numpy()
  ref = np.where(ref > 0, ref, 0.2 * ref) * np.sqrt(2.0)
  np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
  # Unit-variance input keeps roughly unit variance (what the gains are for).
  big = layer(tf.random.normal([16, 16, 16, 4])).numpy()
  assert 0.4 < np.sqrt(np.mean(big**2)) < 2.5


def _mod_conv(demodulate=True, seed=0):
  keras.utils.set_random_seed(seed)
  layer = modulated_conv.ModulatedConv2D(6, 3, demodulate=demodulate,
                                         activation="linear")
  x = tf.random.normal([3, 5, 5, 4])
  w = tf.random.normal([3, 7])
  layer((x, w))
  return layer, x, w


def _per_example_kernels(layer, w):
  styles, demod = [t if t is None else t.numpy() for t in layer.modulation(w)]
  kernel = layer.kernel.numpy() * layer.weight_gain
  k = kernel[None] * styles[:, None, None, :, None]
  return k if demod is None else k * demod[:, None, None, None, :]


def test_demodulated_weights_have_unit_norm_and_define_the_conv():
  layer, x, w = _mod_conv()
  kernels = _per_example_kernels(layer, w)  # [B, k, k, C_in, C_out]
  norms = np.sqrt((kernels**2).sum(axis=(1, 2, 3)))
  np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
  y = layer((x, w)).numpy()
  for b in range(3):
    ref = tf.nn.conv2d(x[b:b + 1], kernels[b], 1, "SAME").numpy()[0]
    np.testing.assert_allclose(y[b], ref + layer.bias.numpy(), rtol=1e-4,
                               atol=1e-5)


def test_modulation_without_demodulation_is_not_normalized():
  layer, x, w = _mod_conv(demodulate=False)
  norms = np.sqrt((_per_example_kernels(layer, w)**2).sum(axis=(1, 2, 3)))
  assert np.abs(norms - 1.0).max() > 0.05


def test_demodulation_is_float32_under_mixed_precision_and_nan_on_overflow():
  with precision.precision_policy("mixed_float16"):
    layer, x, w = _mod_conv()
    styles, demod = layer.modulation(w)
    assert styles.dtype == demod.dtype == tf.float32
    assert layer((x, w)).dtype == tf.float16
  layer.kernel.assign(layer.kernel * 1e25)  # float32 sum of squares -> inf.
  _, demod = layer.modulation(w)
  assert np.isnan(demod.numpy()).all()  # Not rsqrt(inf) = 0.


def test_noise_is_fixed_at_inference_and_fresh_in_training():
  keras.utils.set_random_seed(2)
  layer = modulated_conv.NoiseInjection()
  x = tf.zeros([2, 4, 4, 3])
  layer(x)
  layer.strength.assign(0.5)
  y = layer(x, training=False).numpy()
  np.testing.assert_allclose(
      y, np.broadcast_to(0.5 * layer.const_noise.numpy(), y.shape))
  a, b = layer(x, training=True).numpy(), layer(x, training=True).numpy()
  assert not np.allclose(a, b)
  assert np.allclose(a[..., 0], a[..., 2])  # One noise map for all channels.


def _np_minibatch_stddev(x, group):
  b, h, w, c = x.shape
  g = min(group, b)
  y = x.reshape(g, b // g, h, w, c)
  std = np.sqrt(y.var(axis=0) + 1e-8).mean(axis=(1, 2, 3))  # [M]
  channel = np.stack([np.full((h, w, 1), std[i % (b // g)])
                      for i in range(b)])
  return np.concatenate([x, channel], axis=-1)


@pytest.mark.parametrize("batch", [8, 2])
def test_minibatch_stddev_adds_one_channel_matching_numpy(batch):
  x = np.random.RandomState(batch).randn(batch, 3, 3, 5).astype(np.float32)
  y = modulated_conv.MinibatchStddev(group_size=4)(x).numpy()
  assert y.shape == (batch, 3, 3, 6)
  np.testing.assert_allclose(y, _np_minibatch_stddev(x, 4), rtol=1e-5)


def test_sle_gates_high_res_channels_with_a_sigmoid_of_the_low_res_branch():
  keras.utils.set_random_seed(3)
  sle = excitation.SkipLayerExcitation()
  low, high = tf.random.normal([2, 8, 8, 6]), tf.random.normal([2, 32, 32, 5])
  y = sle((low, high)).numpy()
  pooled = tf.nn.avg_pool2d(low, 2, 2, "VALID")
  hidden = tf.nn.leaky_relu(sle.squeeze(pooled), 0.1)
  gate = tf.sigmoid(sle.excite(hidden)).numpy()  # [B, 1, 1, C_high]
  assert gate.shape == (2, 1, 1, 5) and (gate > 0).all() and (gate < 1).all()
  np.testing.assert_allclose(y, high.numpy() * gate, rtol=1e-5, atol=1e-6)
  # The gate comes from the low-res branch only.
  other_high = sle((low, tf.ones([2, 32, 32, 5]))).numpy()
  np.testing.assert_allclose(other_high, np.broadcast_to(gate, y.shape),
                             rtol=1e-5)
  assert not np.allclose(sle((low * 3.0, high)).numpy(), y)


def test_glu_halves_channels_with_a_sigmoid_gate():
  x = np.random.RandomState(0).randn(2, 3, 3, 8).astype(np.float32)
  expected = x[..., :4] / (1.0 + np.exp(-x[..., 4:]))
  np.testing.assert_allclose(excitation.GLU()(x).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("layer", [
    equalized.EqualizedDense(4, lr_multiplier=0.01, activation="lrelu"),
    equalized.EqualizedConv2D(4, 3, use_bias=False),
    modulated_conv.ModulatedConv2D(4, 1, demodulate=False, noise=True),
    modulated_conv.MinibatchStddev(group_size=2),
])
def test_layer_configs_round_trip(layer):
  rebuilt = type(layer).from_config(layer.get_config())
  assert rebuilt.get_config() == layer.get_config()


def test_path_length_mean_follows_the_closed_form_ema():
  penalty = losses.PathLengthPenalty(tf.Variable(0.0), decay=0.01)
  lengths = tf.constant([2.0, 4.0])  # mean 3
  for n in range(1, 6):
    value = penalty(lengths).numpy()
    mean = 3.0 * (1.0 - 0.99**n)  # EMA from 0 of a constant.
    np.testing.assert_allclose(penalty.mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(
        value, ((2.0 - mean)**2 + (4.0 - mean)**2) / 2, rtol=1e-5)


def test_path_lengths_match_numpy_for_a_linear_synthesis():
  rng = np.random.RandomState(0)
  a = rng.randn(3 * 5, 4 * 4 * 2).astype(np.float32)  # ws [B, 3, 5] -> image.
  synthesis = lambda ws: tf.reshape(tf.reshape(ws, [-1, 15]) @ a, [-1, 4, 4, 2])
  ws = tf.constant(rng.randn(2, 3, 5).astype(np.float32))
  tf.random.set_seed(7)
  images, lengths = losses.path_lengths(synthesis, ws)
  tf.random.set_seed(7)
  noise = tf.random.normal([2, 4, 4, 2]).numpy() / 4.0  # 1 / sqrt(H W).
  grads = (noise.reshape(2, -1) @ a.T).reshape(2, 3, 5)
  expected = np.sqrt((grads**2).sum(2).mean(1))
  np.testing.assert_allclose(lengths.numpy(), expected, rtol=1e-5)
  np.testing.assert_allclose(images.numpy(), synthesis(ws).numpy())
