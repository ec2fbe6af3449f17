"""Tests for s2f_tf.layers: spectral norm, ILN/AdaLIN, convs and blocks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf.layers import blocks
from s2f_tf.layers import normalization
from s2f_tf.layers import spectral_norm


def _np_standardize(x, axes):
  mean = x.mean(axis=axes, keepdims=True)
  return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)


def _np_lin(x, rho):
  return (rho * _np_standardize(x, (1, 2)) +
          (1 - rho) * _np_standardize(x, (1, 2, 3)))


def _sn_conv(seed=0):
  keras.utils.set_random_seed(seed)
  layer = spectral_norm.SpectralNorm(keras.layers.Conv2D(6, 3, name="conv"))
  x = tf.random.normal([2, 5, 5, 4])
  layer(x)
  return layer, x


def _np_sigma(kernel):
  return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]),
                       compute_uv=False)[0]


def test_spectral_norm_sigma_converges_to_largest_singular_value():
  layer, x = _sn_conv()
  for _ in range(60):
    layer(x, training=True)
  expected = _np_sigma(layer.layer.kernel.numpy())
  np.testing.assert_allclose(layer.sigma().numpy(), expected, rtol=1e-2)


def test_spectral_norm_forward_uses_normalised_kernel():
  layer, x = _sn_conv()
  sigma = layer.sigma()
  expected = (tf.nn.conv2d(x, layer.layer.kernel / sigma, 1, "VALID") +
              layer.layer.bias)
  np.testing.assert_allclose(layer(x).numpy(), expected.numpy(), atol=1e-5)


def test_spectral_norm_u_only_moves_when_training_and_kernel_never():
  layer, x = _sn_conv()
  u0, kernel0 = layer.u.numpy(), layer.layer.kernel.numpy()
  layer(x)
  layer(x, training=False)
  np.testing.assert_array_equal(layer.u.numpy(), u0)
  layer(x, training=True)
  assert not np.allclose(layer.u.numpy(), u0)
  np.testing.assert_array_equal(layer.layer.kernel.numpy(), kernel0)


def test_spectral_norm_gradient_flows_through_sigma():
  keras.utils.set_random_seed(1)
  layer = spectral_norm.SpectralNorm(keras.layers.Dense(3, use_bias=False))
  x = tf.random.normal([4, 5])
  layer(x)
  kernel = layer.layer.kernel
  # Reference: the paper's gradient, with u and v constants from NumPy.
  w, u = kernel.numpy(), layer.u.numpy()
  v = u @ w.T
  v /= np.linalg.norm(v)
  u = v @ w
  u /= np.linalg.norm(u)
  with tf.GradientTape(persistent=True) as tape:
    out = tf.reduce_sum(tf.square(layer(x)))
    sigma_ref = tf.reduce_sum(tf.matmul(v, kernel) * u)
    ref = tf.reduce_sum(tf.square(x @ (kernel / sigma_ref)))
    frozen_sigma = tf.stop_gradient(sigma_ref)
    frozen = tf.reduce_sum(tf.square(x @ (kernel / frozen_sigma)))
  grad = tape.gradient(out, kernel).numpy()
  np.testing.assert_allclose(grad, tape.gradient(ref, kernel).numpy(),
                             rtol=1e-4, atol=1e-5)
  assert not np.allclose(grad, tape.gradient(frozen, kernel).numpy(),
                         atol=1e-3)


def test_spectral_norm_under_mixed_precision_keeps_float32_maths():
  keras.config.set_dtype_policy("mixed_float16")
  try:
    layer = spectral_norm.SpectralNorm(keras.layers.Conv2D(4, 3, name="conv"))
    out = layer(tf.random.normal([1, 6, 6, 2]), training=True)
  finally:
    keras.config.set_dtype_policy("float32")
  assert out.dtype == tf.float16
  assert layer.layer.kernel.dtype == "float32" and layer.u.dtype == "float32"
  assert layer.sigma().dtype == tf.float32


def test_instance_norm_matches_numpy():
  x = np.random.RandomState(0).randn(2, 4, 4, 3).astype("float32")
  np.testing.assert_allclose(normalization.InstanceNorm()(x).numpy(),
                             _np_standardize(x, (1, 2)), atol=1e-5)


def test_layer_instance_norm_matches_numpy():
  rng = np.random.RandomState(0)
  x = rng.randn(2, 4, 4, 3).astype("float32") * 3 + 1
  layer = normalization.LayerInstanceNorm()
  layer(x)
  rho, gamma, beta = rng.rand(3), rng.randn(3), rng.randn(3)
  for var, value in ((layer.rho, rho), (layer.gamma, gamma),
                     (layer.beta, beta)):
    var.assign(value.astype("float32"))
  expected = _np_lin(x, rho) * gamma + beta
  np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-4)


def test_adalin_matches_numpy_and_starts_mostly_instance_norm():
  rng = np.random.RandomState(0)
  x = rng.randn(2, 4, 4, 3).astype("float32") * 3 + 1
  gamma = rng.randn(2, 3).astype("float32")
  beta = rng.randn(2, 3).astype("float32")
  layer = normalization.AdaLIN(name="adalin")
  out = layer((x, gamma, beta)).numpy()
  np.testing.assert_allclose(layer.rho.numpy(), 0.9)
  expected = (_np_lin(x, 0.9) * gamma[:, None, None, :] +
              beta[:, None, None, :])
  np.testing.assert_allclose(out, expected, atol=1e-4)
  assert "rho" in layer.rho.path


def test_adalin_is_exact_far_from_zero_mean():
  """The layer applies IN and LN as one scale and shift around the instance
  mean: no cancellation when the mean dwarfs the spread (float64 reference)."""
  rng = np.random.RandomState(1)
  x = (rng.randn(2, 6, 6, 4) * 0.01 + 100).astype("float32")
  gamma, beta = rng.randn(2, 4), rng.randn(2, 4)
  layer = normalization.AdaLIN()
  out = layer((x, gamma.astype("float32"), beta.astype("float32"))).numpy()
  expected = (_np_lin(x.astype("float64"), 0.9) * gamma[:, None, None, :] +
              beta[:, None, None, :])
  np.testing.assert_allclose(out, expected, atol=2e-3)


def test_adalin_gradients_match_the_two_standardizations_of_the_paper():
  """Gradients to x, gamma, beta and rho equal those of rho * IN + (1 - rho)
  * LN computed literally, each standardization on its own."""
  rng = np.random.RandomState(2)
  x = tf.constant(rng.randn(2, 5, 5, 3) * 2 + 0.5, tf.float32)
  gamma = tf.constant(rng.randn(2, 3), tf.float32)
  beta = tf.constant(rng.randn(2, 3), tf.float32)
  upstream = tf.constant(rng.randn(2, 5, 5, 3), tf.float32)
  layer = normalization.AdaLIN()
  layer((x, gamma, beta))
  layer.rho.assign([0.2, 0.5, 0.9])

  def literal(x, gamma, beta, rho):
    def standardize(axes):
      mean, var = tf.nn.moments(x, axes, keepdims=True)
      return (x - mean) / tf.sqrt(var + normalization.EPSILON)
    mixed = rho * standardize([1, 2]) + (1 - rho) * standardize([1, 2, 3])
    return mixed * gamma[:, None, None, :] + beta[:, None, None, :]

  with tf.GradientTape(persistent=True) as tape:
    tape.watch([x, gamma, beta])
    ours = tf.reduce_sum(layer((x, gamma, beta)) * upstream)
    theirs = tf.reduce_sum(literal(x, gamma, beta, layer.rho) * upstream)
  for wrt in (x, gamma, beta, layer.rho):
    np.testing.assert_allclose(tape.gradient(ours, wrt).numpy(),
                               tape.gradient(theirs, wrt).numpy(),
                               atol=2e-4, rtol=1e-4)


def _built_adalin():
  layer = normalization.AdaLIN()
  layer((tf.zeros([1, 4, 4, 2]), tf.ones([1, 2]), tf.zeros([1, 2])))
  return layer


def _built_iln():
  layer = normalization.LayerInstanceNorm()
  layer(tf.zeros([1, 4, 4, 2]))
  return layer


@pytest.mark.parametrize("build", [_built_adalin, _built_iln])
def test_rho_is_clipped_to_unit_interval_by_the_optimizer(build):
  layer = build()
  layer.rho.assign([0.5, 0.5])
  keras.optimizers.SGD(1.0).apply_gradients(
      [(tf.constant([-3.0, 3.0]), layer.rho)])
  np.testing.assert_array_equal(layer.rho.numpy(), [1.0, 0.0])


@pytest.mark.parametrize("strides,size", [(1, 7), (2, 4)])
def test_reflect_conv_output_shape(strides, size):
  layer = blocks.ReflectConv2D(5, 3, strides=strides)
  out = layer(tf.random.normal([2, 7, 8, 3]))
  assert tuple(out.shape) == (2, size, 4 if strides == 2 else 8, 5)
  assert tuple(layer.compute_output_shape((2, 7, 8, 3))) == tuple(out.shape)


def test_spectral_norm_of_a_reflect_conv_pads_by_reflection():
  keras.utils.set_random_seed(0)
  layer = spectral_norm.SpectralNorm(
      blocks.ReflectConv2D(3, 4, strides=2, name="conv"))
  x = tf.random.normal([2, 6, 6, 2])
  out = layer(x)
  kernel = layer.layer.kernel / layer.sigma()
  padded = tf.pad(x, [[0, 0], [1, 2], [1, 2], [0, 0]], mode="REFLECT")
  expected = tf.nn.conv2d(padded, kernel, 2, "VALID") + layer.layer.bias
  assert out.shape == (2, 3, 3, 3)
  np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5,
                             atol=1e-5)


def test_reflect_conv_rejects_other_padding():
  with pytest.raises(ValueError, match="reflection"):
    blocks.ReflectConv2D(4, 3, padding="same")


@pytest.mark.parametrize("make", [
    lambda: spectral_norm.SpectralNorm(keras.layers.Dense(3), power_iterations=2,
                                name="sn"),
    lambda: normalization.InstanceNorm(name="in"),
    lambda: normalization.LayerInstanceNorm(name="iln"),
    lambda: normalization.AdaLIN(name="adalin"),
    lambda: blocks.ReflectConv2D(4, 7, strides=2, name="conv"),
    lambda: blocks.ResBlock(8, name="res"),
    lambda: blocks.ResBlock(8, use_bias=False, name="res_no_bias"),
    lambda: blocks.AdaLINResBlock(8, name="ada_res"),
])
def test_get_config_round_trip(make):
  layer = make()
  clone = keras.saving.deserialize_keras_object(
      keras.saving.serialize_keras_object(layer))
  assert type(clone) is type(layer)
  assert clone.get_config() == layer.get_config()


def test_residual_blocks_keep_shape():
  x = tf.random.normal([2, 4, 4, 8])
  assert blocks.ResBlock(8)(x).shape == x.shape
  params = tf.random.normal([2, 32])
  assert blocks.AdaLINResBlock(8)((x, params)).shape == x.shape


def test_overflowed_statistics_give_nan_not_silent_zeros():
  """Activations past ~1e19 overflow the float32 variance; the output must
  be NaN (caught by the numerics checks), not the all-zero of rsqrt(inf)."""
  x = np.full((1, 4, 4, 2), 1e20, np.float32)
  x[0, 0, 0, 0] = -1e20
  out = normalization.LayerInstanceNorm()(x)
  assert np.isnan(np.asarray(out)).any()
  fine = normalization.LayerInstanceNorm()(np.random.RandomState(0).randn(1, 4, 4, 2))
  assert np.isfinite(np.asarray(fine)).all()
