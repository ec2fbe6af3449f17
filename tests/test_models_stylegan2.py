"""Tests for the StyleGAN2 generator, discriminator and style mixing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import precision
from s2f_tf.models import stylegan2

Z, SIZE, CH = 8, 16, 4  # Tiny: 16 px, a few channels, 2 mapping layers.


def _generator():
  keras.utils.set_random_seed(0)
  return stylegan2.build_stylegan2_generator(Z, SIZE, CH, mapping_layers=2)


def test_shapes_dtypes_and_per_layer_latents():
  g = _generator()
  d = stylegan2.build_stylegan2_discriminator(SIZE, CH)
  images = g(tf.random.normal([4, Z]), training=True)
  assert images.shape == (4, SIZE, SIZE, 3) and images.dtype == tf.float32
  logits = d(images)
  assert logits.shape == (4,) and logits.dtype == tf.float32
  assert g.num_ws == 6  # 4 px: conv + toRGB's index; 8, 16 px: 2 convs each.
  # Every synthesis layer reads its own w: changing w of layer i changes
  # the image.
  ws = g.broadcast(g.map(tf.random.normal([2, Z])))
  base = g.synthesis(ws).numpy()
  for i in range(g.num_ws):
    moved = ws + tf.one_hot(i, g.num_ws)[None, :, None] * 3.0
    assert not np.allclose(g.synthesis(moved).numpy(), base), i
  paths = [v.path for v in g.variables]
  assert "stylegan2_generator/synthesis/b16_conv1/noise/strength" in paths
  assert "stylegan2_generator/mapping/fc1/kernel" in paths


@pytest.mark.parametrize("size", [48, 4, 12])
def test_image_size_must_be_a_power_of_two(size):
  with pytest.raises(ValueError, match="power of two"):
    stylegan2.build_stylegan2_generator(Z, size, CH, mapping_layers=1)


def test_mapping_network_has_lr_multiplier_0_01():
  g = _generator()
  fc = g.mapping.fcs[0]
  assert fc.lr_multiplier == 0.01
  assert abs(fc.kernel.numpy().std() * 0.01 - 1.0) < 0.3


def test_style_mixing_uses_two_latents_at_a_random_crossover():
  w1, w2 = tf.zeros([3, 5]), tf.ones([3, 5])
  cutoffs = set()
  for _ in range(40):
    ws = stylegan2.mix_styles(w1, w2, 6, 1.0).numpy()
    assert ws.shape == (3, 6, 5)
    layer_is_w2 = ws[0, :, 0] == 1.0
    cutoff = int(np.argmax(layer_is_w2))
    assert 1 <= cutoff <= 5
    assert not layer_is_w2[:cutoff].any() and layer_is_w2[cutoff:].all()
    assert (ws == ws[:1]).all()  # One crossover for the whole batch.
    cutoffs.add(cutoff)
  assert len(cutoffs) >= 3
  assert (stylegan2.mix_styles(w1, w2, 6, 0.0).numpy() == 0.0).all()


def test_mixing_probability_is_respected():
  w1, w2 = tf.zeros([1, 2]), tf.ones([1, 2])
  mixed = [stylegan2.mix_styles(w1, w2, 4, 0.9).numpy().max() == 1.0
           for _ in range(200)]
  assert 0.8 < np.mean(mixed) < 0.97


def test_w_avg_is_a_running_mean_and_truncation_pulls_toward_it():
  g = _generator()
  z = tf.random.normal([6, Z])
  w = g.map(z).numpy()
  np.testing.assert_allclose(g.w_avg.numpy(), 0.0)
  for n in range(1, 4):
    g.map(z, update_w_avg=True)
    np.testing.assert_allclose(g.w_avg.numpy(),
                               w.mean(0) * (1 - 0.995**n), rtol=1e-4,
                               atol=1e-7)
  w_avg = g.w_avg.numpy()
  np.testing.assert_allclose(g.map(z, psi=0.5).numpy(),
                             w_avg + 0.5 * (w - w_avg), rtol=1e-5, atol=1e-6)
  # psi = 0: every z gives the same (average) face.
  images = g.generate(z, 0.0).numpy()
  np.testing.assert_allclose(images, np.broadcast_to(images[:1], images.shape),
                             atol=1e-5)
  assert images.std(axis=0).max() < 1e-4 < g.generate(z, 1.0).numpy().std(0).max()


def test_inference_is_deterministic_and_training_draws_noise():
  g = _generator()
  for layer in g.synthesis.stages[-1][1]:
    layer.noise_layer.strength.assign(1.0)
  z = tf.random.normal([2, Z])
  np.testing.assert_array_equal(g(z).numpy(), g(z).numpy())
  assert not np.allclose(g(z, training=True).numpy(),
                         g(z, training=True).numpy())


def test_mixed_precision_outputs_float32_and_float16_convs():
  with precision.precision_policy("mixed_float16"):
    g = _generator()
    d = stylegan2.build_stylegan2_discriminator(SIZE, CH)
  images = g(tf.random.normal([4, Z]), training=True)
  assert images.dtype == tf.float32 and np.isfinite(images.numpy()).all()
  assert d(images).dtype == tf.float32
  conv = g.synthesis.stages[-1][1][0]
  assert conv.compute_dtype == "float16" and g.mapping.compute_dtype == "float32"


def test_discriminator_sees_batch_statistics_through_minibatch_stddev():
  keras.utils.set_random_seed(1)
  d = stylegan2.build_stylegan2_discriminator(SIZE, CH, mbstd_group=4)
  x = tf.random.normal([4, SIZE, SIZE, 3])
  alone = d(x[:1]).numpy()
  # Same first image, different companions: different score.
  assert not np.allclose(d(x).numpy()[:1], alone)
  assert not np.allclose(
      d(tf.concat([x[:1], 5.0 * x[1:]], 0)).numpy()[:1], d(x).numpy()[:1])


def test_generator_config_round_trips():
  g = _generator()
  rebuilt = stylegan2.StyleGAN2Generator.from_config(g.get_config())
  rebuilt(tf.zeros([1, Z]))
  assert rebuilt.num_ws == g.num_ws
  assert len(rebuilt.variables) == len(g.variables)
