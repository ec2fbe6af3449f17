"""Tests for LightweightGAN (FastGAN): SLE generator, self-supervised D."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import losses
from s2f_tf import precision
from s2f_tf.layers import excitation
from s2f_tf.models import lightweight

Z, SIZE, CH = 8, 32, 4


def test_generator_shapes_range_and_skip_layer_excitation():
  keras.utils.set_random_seed(0)
  g = lightweight.build_lightweight_generator(Z, SIZE, CH)
  images = g(tf.random.normal([3, Z]), training=True)
  assert images.shape == (3, SIZE, SIZE, 3) and images.dtype == tf.float32
  assert np.abs(images.numpy()).max() <= 1.0
  sle = [l for l in g.layers if isinstance(l, excitation.SkipLayerExcitation)]
  assert [l.name for l in sle] == ["sle_4_32"]


@pytest.mark.parametrize("size", [16, 48])
def test_sizes_are_checked(size):
  with pytest.raises(ValueError, match="32, 64, 128 or 256"):
    lightweight.build_lightweight_generator(Z, size, CH)


def test_quadrants_tile_the_image():
  x = tf.reshape(tf.range(2 * 4 * 4 * 1, dtype=tf.float32), [2, 4, 4, 1])
  parts = [lightweight.quadrant(x, tf.constant(p)).numpy() for p in range(4)]
  top = np.concatenate(parts[:2], axis=2)
  bottom = np.concatenate(parts[2:], axis=2)
  np.testing.assert_array_equal(np.concatenate([top, bottom], axis=1),
                                x.numpy())


def test_discriminator_outputs_and_reconstruction_targets():
  keras.utils.set_random_seed(1)
  d = lightweight.build_lightweight_discriminator(SIZE, CH)
  x = tf.random.uniform([2, SIZE, SIZE, 3], -1, 1)
  logits, recs = d.call_with_reconstructions(x, tf.constant(2), training=True)
  assert logits.shape == (2, 5, 5, 1) and logits.dtype == tf.float32
  targets = d.reconstruction_targets(x, tf.constant(2))
  assert [r.shape for r in recs] == [t.shape for t in targets] == [
      (2, SIZE // 2, SIZE // 2, 3)] * 2
  # Quadrant 2 is the bottom-left one; at S / 2 it needs no resizing.
  np.testing.assert_allclose(targets[1].numpy(),
                             x.numpy()[:, SIZE // 2:, :SIZE // 2], atol=1e-6)
  # Without training, D's state (spectral norm's u) stays put: same logits.
  inference_logits, _ = d.call_with_reconstructions(x, tf.constant(2))
  np.testing.assert_allclose(d(x).numpy(), inference_logits.numpy(),
                             rtol=1e-5, atol=1e-6)


def test_reconstruction_loss_of_d_decreases_on_a_fixed_batch():
  keras.utils.set_random_seed(2)
  d = lightweight.build_lightweight_discriminator(SIZE, CH)
  optimizer = keras.optimizers.Adam(2e-3)
  # Smooth images (upsampled 4x4 noise): something a decoder can learn.
  real = tf.image.resize(tf.random.uniform([4, 4, 4, 3], -1, 1, seed=3),
                         (SIZE, SIZE))
  part = tf.constant(1)

  def step():
    with tf.GradientTape() as tape:
      _, recs = d.call_with_reconstructions(real, part, training=True)
      loss = losses.l1_reconstruction_loss(
          d.reconstruction_targets(real, part), recs)
    # Only the head has no gradient: it reads the features, not the decoders.
    grads = tape.gradient(loss, d.trainable_variables)
    pairs = [(g, v) for g, v in zip(grads, d.trainable_variables)
             if g is not None]
    assert all("head/" in v.path for g, v in zip(grads, d.trainable_variables)
               if g is None)
    optimizer.apply(*zip(*pairs))
    return float(loss)

  history = [step() for _ in range(15)]
  assert history[-1] < 0.7 * history[0], history
  assert all(b < a for a, b in zip(history[:5], history[1:6])), history


def test_mixed_precision_outputs_float32():
  with precision.precision_policy("mixed_bfloat16"):
    g = lightweight.build_lightweight_generator(Z, SIZE, CH)
    d = lightweight.build_lightweight_discriminator(SIZE, CH)
  images = g(tf.random.normal([2, Z]), training=True)
  logits, recs = d.call_with_reconstructions(images, tf.constant(0))
  assert {t.dtype for t in [images, logits, *recs]} == {tf.float32}
