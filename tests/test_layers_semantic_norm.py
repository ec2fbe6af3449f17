"""Tests for s2f_tf.layers.semantic_norm against NumPy closed forms."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import precision
from s2f_tf.layers import semantic_norm as sn

L = 5  # Classes in every test map.


def _np_standardize(x, axes):
  mean = x.mean(axis=axes, keepdims=True)
  return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)


def _labels(seed=0, size=8, batch=2, classes=L):
  ids = np.random.RandomState(seed).randint(0, classes, (batch, size, size))
  return ids, np.eye(L, dtype="float32")[ids]


def _condition(labels_1hot, style_dim=4, seed=0):
  rng = np.random.RandomState(seed)
  batch = labels_1hot.shape[0]
  return {"labels": tf.constant(labels_1hot),
          "dist": sn.intra_class_offsets(labels_1hot),
          "style": tf.constant(rng.randn(batch, L, style_dim), tf.float32),
          "present": tf.ones([batch, L])}


def test_clade_modulation_is_a_pure_per_class_lookup():
  layer = sn.ClassModulation(3, L)
  rng = np.random.RandomState(0)
  table_g, table_b = rng.randn(L, 3), rng.randn(L, 3)
  ids, labels = _labels()
  layer(labels)
  layer.gamma.assign(table_g)
  layer.beta.assign(table_b)
  gamma, beta = layer(labels)
  np.testing.assert_allclose(gamma.numpy(), table_g[ids], rtol=1e-6)
  np.testing.assert_allclose(beta.numpy(), table_b[ids], rtol=1e-6)
  one_class = np.full((1, 8, 8), 3)
  gamma, _ = layer(np.eye(L, dtype="float32")[one_class])
  np.testing.assert_allclose(gamma.numpy(),
                             np.broadcast_to(table_g[3], (1, 8, 8, 3)),
                             rtol=1e-6)


def test_iclade_scales_the_lookup_by_the_distance_map():
  layer = sn.ClassModulation(3, L, add_dist=True)
  ids, labels = _labels(seed=1)
  offsets = sn.intra_class_offsets(labels)
  gamma0, _ = layer(labels, offsets)  # Zero-initialised: plain CLADE.
  np.testing.assert_allclose(gamma0.numpy(), np.ones((2, 8, 8, 3)))
  layer.dist_gamma.kernel.assign([[[[0.5], [-0.25]]]])
  layer.dist_gamma.bias.assign([0.1])
  layer.gamma.assign(np.arange(L * 3, dtype="float32").reshape(L, 3))
  gamma, _ = layer(labels, offsets)
  d = offsets.numpy()
  scale = 1 + 0.5 * d[..., :1] - 0.25 * d[..., 1:] + 0.1
  expected = np.arange(L * 3).reshape(L, 3)[ids] * scale
  np.testing.assert_allclose(gamma.numpy(), expected, rtol=1e-5)


def test_intra_class_offsets_match_numpy():
  ids, labels = _labels(seed=2, size=6, batch=1, classes=3)
  got = sn.intra_class_offsets(labels).numpy()[0]
  yy, xx = np.mgrid[:6, :6].astype("float64")
  expected = np.zeros((6, 6, 2))
  for c in np.unique(ids):
    inside = ids[0] == c
    for axis, grid in enumerate((yy, xx)):
      offset = grid[inside] - grid[inside].mean()
      expected[inside, axis] = offset / max(np.abs(offset).max(), 1.0)
  np.testing.assert_allclose(got, expected, atol=1e-5)
  assert np.abs(got).max() <= 1.0


def test_region_average_matches_numpy_and_ignores_absent_regions():
  ids, labels = _labels(seed=3, size=4, classes=3)  # Classes 3, 4 absent.
  ids[1][ids[1] == 2] = 0  # Class 2 absent from the second map only.
  labels = np.eye(L, dtype="float32")[ids]
  feats = np.random.RandomState(0).randn(2, 4, 4, 6).astype("float32")
  codes, present = sn.region_average(feats, labels)
  for b in range(2):
    for c in range(L):
      inside = ids[b] == c
      want = feats[b][inside].mean(0) if inside.any() else np.zeros(6)
      np.testing.assert_allclose(codes[b, c].numpy(), want, atol=1e-5)
      assert present[b, c].numpy() == float(inside.any())


def test_average_present_skips_references_without_the_region():
  rng = np.random.RandomState(0)
  codes = rng.randn(1, 3, L, 4).astype("float32")
  present = np.ones((1, 3, L), "float32")
  present[0, 1, 2] = 0  # Reference 1 has no class 2: mean of refs 0, 2.
  present[0, :, 4] = 0  # Nobody shows class 4.
  mean, any_present = sn.average_present(codes, present)
  np.testing.assert_allclose(mean[0, 2].numpy(),
                             (codes[0, 0, 2] + codes[0, 2, 2]) / 2, rtol=1e-5)
  np.testing.assert_allclose(mean[0, 0].numpy(), codes[0, :, 0].mean(0),
                             rtol=1e-5)
  np.testing.assert_array_equal(mean[0, 4].numpy(), np.zeros(4))
  np.testing.assert_array_equal(any_present.numpy(), [[1, 1, 1, 1, 0]])


def test_spade_with_a_constant_map_is_a_conditional_norm():
  keras.utils.set_random_seed(0)
  norm = sn.SemanticNorm(3, L, mode="spade", hidden=4)
  x = np.random.RandomState(1).randn(2, 6, 6, 3).astype("float32")
  labels = np.zeros((2, 6, 6, L), "float32")
  labels[..., 2] = 1.0
  gamma, beta = norm.spade(labels)
  for value in (gamma.numpy(), beta.numpy()):  # Same at every pixel.
    np.testing.assert_allclose(value, np.broadcast_to(value[:, :1, :1],
                                                      value.shape), atol=1e-6)
  y = norm(x, {"labels": labels})
  expected = (_np_standardize(x, (1, 2)) * (1 + gamma.numpy()[:, :1, :1]) +
              beta.numpy()[:, :1, :1])
  np.testing.assert_allclose(y.numpy(), expected, atol=1e-4)


def test_batch_param_free_norm_uses_batch_statistics_when_training():
  norm = sn.SemanticNorm(3, L, mode="clade", param_free="batch")
  x = np.random.RandomState(2).randn(4, 5, 5, 3).astype("float32") * 3 + 1
  _, labels = _labels(batch=4, size=5)
  y = norm(x, {"labels": labels}, training=True)  # CLADE starts at 1, 0.
  np.testing.assert_allclose(y.numpy(), _np_standardize(x, (0, 1, 2)),
                             atol=1e-3)


def test_sean_without_any_region_code_falls_back_to_spade():
  keras.utils.set_random_seed(0)
  sean = sn.SemanticNorm(3, L, mode="sean", hidden=4, style_dim=4)
  x = np.random.RandomState(3).randn(2, 8, 8, 3).astype("float32")
  cond = _condition(_labels(seed=4)[1])
  sean(x, cond)
  sean.blend_gamma.assign(2.0)  # A strong style branch where codes exist.
  with_codes = sean(x, cond).numpy()
  cond["present"] = tf.zeros([2, L])
  fallback = sean(x, cond).numpy()
  gamma, beta = sean.spade(cond["labels"])
  expected = _np_standardize(x, (1, 2)) * (1 + gamma.numpy()) + beta.numpy()
  np.testing.assert_allclose(fallback, expected, atol=1e-4)
  assert np.abs(with_codes - fallback).max() > 1e-3


@pytest.mark.parametrize("mode", sn.NORM_MODES)
def test_res_block_under_mixed_bfloat16(mode):
  with precision.precision_policy("mixed_bfloat16"):
    block = sn.SemanticResBlock(6, 4, L, norm=dict(mode=mode, hidden=4,
                                                   style_dim=4))
    x = tf.random.normal([2, 8, 8, 6])
    y = block(x, _condition(_labels(size=16)[1]), training=True)
  assert y.shape == (2, 8, 8, 4) and y.dtype == tf.bfloat16
  assert np.isfinite(tf.cast(y, tf.float32).numpy()).all()
  assert block.conv_s is not None  # 6 -> 4 channels: learnt shortcut.


def test_variable_paths_are_unique_and_name_their_layer():
  block = sn.SemanticResBlock(6, 4, L, norm=dict(mode="sean", hidden=4,
                                                 style_dim=4), name="block")
  block(tf.zeros([1, 8, 8, 6]), _condition(_labels(batch=1)[1]))
  paths = [v.path for v in block.variables]
  assert len(set(paths)) == len(paths)
  assert "block/norm_s/blend_gamma" in paths
  assert "block/norm_0/style_modulation/fc_kernel" in paths
  clade = sn.ClassModulation(3, L, name="clade")
  clade(_labels()[1])
  assert [v.path for v in clade.variables] == ["clade/gamma", "clade/beta"]


@pytest.mark.parametrize("mode,add_dist", [("spade", False), ("clade", True),
                                           ("sean", False)])
def test_res_block_get_config_round_trip(mode, add_dist):
  norm = dict(mode=mode, hidden=4, style_dim=4, add_dist=add_dist)
  block = sn.SemanticResBlock(4, 4, L, norm=norm, name="block")
  x = tf.random.normal([1, 8, 8, 4])
  cond = _condition(_labels(size=8, batch=1)[1])
  y = block(x, cond)
  clone = sn.SemanticResBlock.from_config(block.get_config())
  clone(x, cond)
  clone.set_weights(block.get_weights())
  assert clone.conv_s is None and clone.get_config() == block.get_config()
  np.testing.assert_allclose(clone(x, cond).numpy(), y.numpy(), atol=1e-6)
