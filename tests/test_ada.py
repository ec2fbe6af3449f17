"""Tests for s2f_tf.ada: ADA's transforms against NumPy, and p's updates."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import ada

SIZE = 8
IDENTITY = {"xflip": 0.0, "rotate90": 0.0, "int_translate": (0.0, 0.0),
            "iso_scale": 1.0, "pre_rotate": 0.0, "aniso_scale": 1.0,
            "post_rotate": 0.0, "frac_translate": (0.0, 0.0),
            "brightness": 0.0, "contrast": 1.0, "luma_flip": 0.0, "hue": 0.0,
            "saturation": 1.0}
LUMA = np.ones(3, np.float32) / np.sqrt(3)


def _values(**changes):
  """One image's values: the identity but for `changes`."""
  merged = {**IDENTITY, **changes}
  return {k: tf.constant([v], tf.float32) for k, v in merged.items()}


def _image(channels=3, seed=0):
  return np.random.RandomState(seed).uniform(
      -1, 1, [1, SIZE, SIZE, channels]).astype(np.float32)


def _np_reflect(u):
  period = 2 * (SIZE - 1)
  u = np.mod(u, period)
  return np.minimum(u, period - u)


def _np_resample(x, m):
  """Bilinear sampling at m @ (centred output pixel), reflected."""
  c = (SIZE - 1) / 2
  out = np.zeros_like(x)
  for y in range(SIZE):
    for xx in range(SIZE):
      sx, sy, _ = m @ np.array([xx - c, y - c, 1.0])
      sx, sy = _np_reflect(sx + c), _np_reflect(sy + c)
      x0, y0 = int(np.floor(sx)), int(np.floor(sy))
      x1, y1 = min(x0 + 1, SIZE - 1), min(y0 + 1, SIZE - 1)
      wx, wy = sx - x0, sy - y0
      out[0, y, xx] = ((1 - wy) * ((1 - wx) * x[0, y0, x0] + wx * x[0, y0, x1])
                       + wy * ((1 - wx) * x[0, y1, x0] + wx * x[0, y1, x1]))
  return out


def _augment(x, **changes):
  out, _ = ada.ada_augment(tf.constant(x), _values(**changes))
  return out.numpy()


def test_identity_values_leave_the_image_unchanged():
  x = _image()
  np.testing.assert_array_equal(_augment(x), x)


@pytest.mark.parametrize("changes,expected", [
    ({"xflip": 1.0}, lambda x: x[:, :, ::-1]),
    # Output (x, y) samples (-y, x): a quarter turn of the array.
    ({"rotate90": 1.0}, lambda x: np.rot90(x, k=1, axes=(1, 2))),
    # Output pixel i samples i + 2 (reflected past the border).
    ({"int_translate": (2.0, 0.0)}, lambda x: np.pad(
        x, [(0, 0), (0, 0), (0, 2), (0, 0)], mode="reflect")[:, :, 2:]),
])
def test_pixel_blitting_moves_whole_pixels(changes, expected):
  x = _image()
  np.testing.assert_allclose(_augment(x, **changes), expected(x), atol=1e-6)


@pytest.mark.parametrize("changes", [
    {"iso_scale": 1.3}, {"pre_rotate": 0.4}, {"aniso_scale": 0.8},
    {"post_rotate": -1.1}, {"frac_translate": (0.7, -1.6)},
    {"xflip": 1.0, "rotate90": 3.0, "iso_scale": 0.9, "post_rotate": 2.0}])
def test_general_geometric_matches_numpy_bilinear(changes):
  x = _image()
  matrix = ada.geometric_matrices(_values(**changes))[0].numpy()
  np.testing.assert_allclose(_augment(x, **changes), _np_resample(x, matrix),
                             atol=1e-5)


def _np_hue(x, theta):
  cross = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / np.sqrt(3)
  rotation = (np.cos(theta) * np.eye(3) + np.sin(theta) * cross +
              (1 - np.cos(theta)) * np.outer(LUMA, LUMA))
  return x @ rotation.T


@pytest.mark.parametrize("changes,expected", [
    ({"brightness": 0.3}, lambda x: x + 0.3),
    ({"contrast": 1.5}, lambda x: x * 1.5),
    ({"luma_flip": 1.0}, lambda x: x - 2 * (x @ LUMA)[..., None] * LUMA),
    ({"hue": 0.9}, lambda x: _np_hue(x, 0.9)),
    ({"saturation": 0.3}, lambda x: (x @ LUMA)[..., None] * LUMA + 0.3 * (
        x - (x @ LUMA)[..., None] * LUMA)),
])
def test_colour_transform_matches_numpy(changes, expected):
  x = _image()
  np.testing.assert_allclose(_augment(x, **changes), expected(x), atol=1e-5)


def test_hue_rotation_keeps_grey_grey():
  grey = np.full([1, SIZE, SIZE, 3], 0.4, np.float32)
  np.testing.assert_allclose(_augment(grey, hue=2.0), grey, atol=1e-6)


def test_label_map_stays_one_hot_and_aligned_with_the_image():
  labels = np.random.RandomState(2).randint(0, 4, [1, SIZE, SIZE])
  one_hot = np.eye(4, dtype=np.float32)[labels]
  values = _values(xflip=1.0, int_translate=(1.0, -2.0), brightness=0.2)
  x = _image()
  out, (maps,) = ada.ada_augment(tf.constant(x), values,
                                 [tf.constant(one_hot)])
  moved = lambda a: np.pad(a[:, :, ::-1], [(0, 0), (2, 0), (0, 1), (0, 0)],
                           mode="reflect")[:, :SIZE, 1:]
  np.testing.assert_array_equal(maps.numpy(), moved(one_hot))
  np.testing.assert_allclose(out.numpy(), moved(x) + 0.2, atol=1e-6)
  # A rotation resamples a label map nearest-neighbour: still one-hot.
  _, (turned,) = ada.ada_augment(tf.constant(x), _values(pre_rotate=0.5),
                                 [tf.constant(one_hot)])
  assert set(np.unique(turned.numpy())) == {0.0, 1.0}
  np.testing.assert_array_equal(turned.numpy().sum(-1), 1.0)


def test_gradients_reach_the_image_through_every_transform():
  x = tf.Variable(_image())
  for name in IDENTITY:
    value = (0.6, 1.3) if isinstance(IDENTITY[name], tuple) else 1.0 + 0.3
    with tf.GradientTape() as tape:
      out, _ = ada.ada_augment(x, _values(**{name: value}))
      loss = tf.reduce_sum(out * tf.random.stateless_normal(out.shape, [1, 2]))
    grad = tape.gradient(loss, x)
    assert grad is not None and np.abs(grad.numpy()).sum() > 0, name


def test_draw_values_apply_each_transform_with_probability_p():
  tf.random.set_seed(0)
  for p in (0.0, 0.3, 1.0):
    values = ada.draw_values(tf.constant(p), 4000, SIZE)
    changed = np.mean(values["brightness"].numpy() != 0)
    np.testing.assert_allclose(changed, p, atol=0.03)
    rotated = np.mean((values["pre_rotate"].numpy() != 0) |
                      (values["post_rotate"].numpy() != 0))
    np.testing.assert_allclose(rotated, p, atol=0.03)


def _feed(probability, logits, times):
  for _ in range(times):
    probability.observe(tf.constant(logits))


def test_p_rises_when_d_separates_reals_and_falls_when_it_cannot():
  probability = ada.AdaptiveProbability(target=0.6, images_to_one=100)
  _feed(probability, [[3.0], [0.5], [2.0], [1.0]], times=4)  # r_t = 1.
  assert probability.update() == 1.0
  np.testing.assert_allclose(probability.p.numpy(), 16 / 100)
  # A D that cannot tell: half its real logits on each side, r_t = 0.
  _feed(probability, [[-1.0], [1.0], [-2.0], [2.0]], times=2)
  assert probability.update() == 0.0
  np.testing.assert_allclose(probability.p.numpy(), 8 / 100)
  _feed(probability, [[-1.0], [1.0], [-2.0], [2.0]], times=10)
  probability.update()
  assert probability.p.numpy() == 0.0  # Clipped.


def test_observe_averages_patch_maps_per_image_and_honours_the_threshold():
  probability = ada.AdaptiveProbability(target=0.6, images_to_one=100)
  # Image 0: 3 of 4 patches above 0.5 -> 0.5; image 1: all below -> -1.
  maps = tf.constant([[0.9, 0.7, 0.6, 0.1], [0.2, 0.3, 0.0, 0.4]])
  probability.observe([maps[:, :2], maps[:, 2:]], threshold=0.5)
  assert probability.update() == pytest.approx((0.5 - 1.0) / 2)


def test_update_without_observations_keeps_p():
  probability = ada.AdaptiveProbability(target=0.6, images_to_one=100)
  assert math.isnan(probability.update())
  assert probability.p.numpy() == 0.0


# A child's first lines: 2 logical CPUs, before TensorFlow starts.
TWO_CPUS = """
import tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)
"""
_MIRRORED = TWO_CPUS + """
from s2f_tf import ada
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
  probability = ada.AdaptiveProbability(target=0.4, images_to_one=100)
logits = tf.data.Dataset.from_tensors([[1.0], [2.0], [-1.0], [3.0]])
step = tf.function(lambda x: strategy.run(probability.observe, args=(x,)))
for x in strategy.experimental_distribute_dataset(logits.unbatch().batch(4)):
  step(x)
r_t = probability.update()
print(r_t, *[float(v.numpy())
             for v in strategy.experimental_local_results(probability.p)])
"""


def test_mirrored_replicas_pool_their_signs_and_share_p():
  """Each replica sees 2 of the 4 images; r_t is over all 4, p the same
  on both (TF in a child: logical devices precede TF's start)."""
  result = subprocess.run([sys.executable, "-c", _MIRRORED],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-2000:]
  r_t, *copies = (float(v) for v in result.stdout.split())
  assert r_t == 0.5  # (1 + 1 - 1 + 1) / 4.
  # 4 images of 100 (p is float32), the same on each replica.
  assert copies == [float(np.float32(0.04))] * 2
