"""Tests for U-GAT-IT's CAM attention: the layer, in G and D, and its losses."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf.layers import attention
from s2f_tf import losses
from s2f_tf.models import few_shot

TINY = config_lib.tiny_config().family
CH = config_lib.tiny_config().model.base_channels
TINY_CAM = dataclasses.replace(TINY, cam=True)
SIZE = 16


def _features(seed=0, shape=(3, 4, 4, 6)):
  return tf.constant(np.random.RandomState(seed).randn(*shape), tf.float32)


def _np_bce(logits, target):
  p = 1.0 / (1.0 + np.exp(-logits))
  return -(target * np.log(p) + (1 - target) * np.log(1 - p))


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_cam_attention_shapes_and_dtypes(spectral_norm):
  cam = attention.CAMAttention(0.2, spectral_norm=spectral_norm)
  out, logits = cam(_features(), training=True)
  assert out.shape == (3, 4, 4, 6) and logits.shape == (3, 2)
  assert logits.dtype == tf.float32
  assert cam.compute_output_shape((3, 4, 4, 6)) == ((3, 4, 4, 6), (3, 2))


def test_cam_attention_matches_numpy():
  keras.utils.set_random_seed(0)
  cam = attention.CAMAttention()
  x = _features()
  out, logits = cam(x)
  xn = x.numpy()
  w_gap, w_gmp = cam.gap_fc.kernel.numpy(), cam.gmp_fc.kernel.numpy()
  np.testing.assert_allclose(
      logits.numpy(), np.concatenate([xn.mean((1, 2)) @ w_gap,
                                      xn.max((1, 2)) @ w_gmp], axis=1),
      rtol=1e-5, atol=1e-5)
  maps = np.concatenate([xn * w_gap[:, 0], xn * w_gmp[:, 0]], axis=-1)
  kernel, bias = (v.numpy() for v in cam.conv.weights)
  expected = np.maximum(maps @ kernel[0, 0] + bias, 0.0)  # A 1x1 conv.
  np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_spectral_cam_weights_have_unit_norm():
  # For a [C, 1] kernel sigma is its L2 norm, so the logit is pooled . w/|w|.
  keras.utils.set_random_seed(0)
  cam = attention.CAMAttention(0.2, spectral_norm=True)
  x = _features()
  _, logits = cam(x, training=True)
  w = cam.gap_fc.layer.kernel.numpy()
  np.testing.assert_allclose(logits.numpy()[:, 0],
                             x.numpy().mean((1, 2)) @ w[:, 0]
                             / np.linalg.norm(w), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_cam_attention_get_config_round_trip(spectral_norm):
  cam = attention.CAMAttention(0.2, spectral_norm=spectral_norm, name="cam")
  x = _features()
  cam(x)
  clone = attention.CAMAttention.from_config(cam.get_config())
  assert clone.get_config() == cam.get_config()
  clone(x)
  clone.set_weights(cam.get_weights())
  for a, b in zip(cam(x), clone(x)):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_generator_with_cam():
  g = few_shot.build_generator(TINY_CAM, SIZE, CH, k_refs=2)
  sketch = tf.random.uniform([3, SIZE, SIZE, 1], -1, 1)
  style = g.encode_style(tf.random.uniform([3, 2, SIZE, SIZE, 3], -1, 1))
  image, cam_logits = g.generate_with_cam(sketch, style)
  assert image.shape == (3, SIZE, SIZE, 3) and image.dtype == tf.float32
  assert cam_logits.shape == (3, 2) and cam_logits.dtype == tf.float32
  np.testing.assert_allclose(g.generate(sketch, style).numpy(),
                             image.numpy(), atol=1e-6)
  paths = [v.path for v in g.trainable_variables]
  assert "generator/cam/gap_fc/kernel" in paths
  with tf.GradientTape() as tape:
    _, cam_logits = g.generate_with_cam(sketch, style, training=True)
    loss = losses.cam_generator_loss(cam_logits)
  # The classifier and the content encoder learn from the CAM loss.
  trained = [v for v in g.trainable_variables
             if "_fc/" in v.path or "content_encoder/" in v.path]
  assert all(grad is not None for grad in tape.gradient(loss, trained))
  rebuilt = few_shot.Generator.from_config(g.get_config())
  assert rebuilt.cam is not None


def test_generator_cam_classifier_learns_sketch_from_grayscale_photo():
  """Two classes, as in U-GAT-IT: the loss does not saturate on one."""
  g = few_shot.build_generator(TINY_CAM, SIZE, CH, k_refs=1)
  rng = np.random.RandomState(0)
  sketch = tf.constant(np.where(rng.rand(4, SIZE, SIZE, 1) < 0.9, 1.0, -1.0),
                       tf.float32)
  photo = tf.constant(rng.uniform(-0.5, 0.2, (4, SIZE, SIZE, 1)), tf.float32)
  style = tf.zeros([4, TINY_CAM.style_dim])
  assert g.content_cam_logits(photo).shape == (4, 2)
  opt = keras.optimizers.Adam(1e-2)
  losses_seen = []
  for _ in range(30):
    with tf.GradientTape() as tape:
      _, sketch_cam = g.generate_with_cam(sketch, style, training=True)
      loss = losses.cam_discriminator_loss(
          sketch_cam, g.content_cam_logits(photo, training=True))
    pairs = [(gr, v) for gr, v in zip(tape.gradient(
        loss, g.trainable_variables), g.trainable_variables) if gr is not None]
    opt.apply([gr for gr, _ in pairs], [v for _, v in pairs])
    losses_seen.append(float(loss))
  assert losses_seen[-1] < 0.5 * losses_seen[0]


def test_discriminator_with_cam_keeps_call_outputs():
  d = few_shot.build_discriminator(TINY_CAM, SIZE)
  image = tf.random.uniform([3, SIZE, SIZE, 3], -1, 1)
  sketch = tf.random.uniform([3, SIZE, SIZE, 1], -1, 1)
  outputs = d((image, sketch))
  cam_outputs, cam_logits = d.call_with_cam((image, sketch))
  assert len(outputs) == len(cam_logits) == TINY.num_d
  for (logits, feats), (cam_l, cam_f), cam in zip(outputs, cam_outputs,
                                                   cam_logits):
    assert logits.shape[0] == 3 and logits.shape[-1] == 1
    assert len(feats) == TINY.d_layers + 1
    np.testing.assert_allclose(cam_l.numpy(), logits.numpy(), atol=1e-6)
    assert len(cam_f) == len(feats)
    assert cam.shape == (3, 2) and cam.dtype == tf.float32
  assert "discriminator/scale_1/cam/gmp_fc/u" in [v.path for v in d.variables]


def test_cam_methods_refuse_models_built_without_cam():
  g = few_shot.build_generator(TINY, SIZE, CH)
  d = few_shot.build_discriminator(TINY, SIZE)
  with pytest.raises(ValueError, match="cam=True"):
    g.generate_with_cam(tf.zeros([1, SIZE, SIZE, 1]),
                        tf.zeros([1, TINY.style_dim]))
  with pytest.raises(ValueError, match="cam=True"):
    d.call_with_cam((tf.zeros([1, SIZE, SIZE, 3]),
                     tf.zeros([1, SIZE, SIZE, 1])))


def test_cam_losses_match_numpy_bce():
  rng = np.random.RandomState(0)
  real = [rng.randn(4, 2).astype("float32") for _ in range(2)]
  fake = [rng.randn(4, 2).astype("float32") for _ in range(2)]
  g_ref = np.mean([_np_bce(f, 1.0).mean() for f in fake])
  d_ref = np.mean([(_np_bce(r, 1.0) + _np_bce(f, 0.0)).mean()
                   for r, f in zip(real, fake)])
  np.testing.assert_allclose(losses.cam_generator_loss(fake).numpy(), g_ref,
                             rtol=1e-5)
  np.testing.assert_allclose(
      losses.cam_discriminator_loss(real, fake).numpy(), d_ref, rtol=1e-5)
  one = losses.cam_generator_loss(tf.constant(fake[0], tf.float16))
  assert one.dtype == tf.float32
  np.testing.assert_allclose(one.numpy(), _np_bce(fake[0], 1.0).mean(),
                             rtol=1e-3)
