"""Tests for s2f_tf.augment: DiffAugment's transforms against NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import augment

SIZE = 8  # Shift up to 1 pixel, a 4-pixel cutout.


def _images(batch=2, channels=3, seed=0):
  rng = np.random.RandomState(seed)
  return rng.uniform(-1, 1, [batch, SIZE, SIZE, channels]).astype(np.float32)


def _np_translate(x, shift):
  out = np.zeros_like(x)
  for b, (dy, dx) in enumerate(shift):
    for i in range(SIZE):
      for j in range(SIZE):
        if 0 <= i + dy < SIZE and 0 <= j + dx < SIZE:
          out[b, i, j] = x[b, i + dy, j + dx]
  return out


def _np_cutout(x, centre):
  out = x.copy()
  cut = SIZE // 2
  for b, (cy, cx) in enumerate(centre):
    rows = slice(max(cy - cut // 2, 0), max(cy - cut // 2 + cut, 0))
    cols = slice(max(cx - cut // 2, 0), max(cx - cut // 2 + cut, 0))
    out[b, rows, cols] = 0
  return out


def _np_colour(x, brightness, saturation, contrast):
  x = x + brightness
  x = (x - x.mean(3, keepdims=True)) * saturation + x.mean(3, keepdims=True)
  mean = x.mean((1, 2, 3), keepdims=True)
  return (x - mean) * contrast + mean


FIXED = {
    "brightness": np.array([0.3, -0.2], np.float32).reshape(2, 1, 1, 1),
    "saturation": np.array([1.7, 0.4], np.float32).reshape(2, 1, 1, 1),
    "contrast": np.array([0.6, 1.4], np.float32).reshape(2, 1, 1, 1),
    "translation": np.array([[1, -1], [-1, 0]], np.int32),
    "cutout": np.array([[0, 5], [7, 2]], np.int32),  # Clipped at borders.
}


@pytest.mark.parametrize("name,reference", [
    ("translation", _np_translate), ("cutout", _np_cutout)])
def test_geometric_transform_matches_numpy(name, reference):
  x = _images()
  out, _ = augment.diff_augment(tf.constant(x), {name: FIXED[name]})
  np.testing.assert_array_equal(out.numpy(), reference(x, FIXED[name]))


def test_colour_matches_numpy():
  x = _images()
  params = {k: FIXED[k] for k in augment.POLICIES["color"]}
  out, _ = augment.diff_augment(tf.constant(x), params)
  np.testing.assert_allclose(out.numpy(), _np_colour(x, *params.values()),
                             atol=1e-6)


def test_conditions_move_with_the_image_and_keep_their_values():
  x = _images()
  labels = np.random.RandomState(1).randint(0, 5, [2, SIZE, SIZE])
  one_hot = np.eye(5, dtype=np.float32)[labels]
  # Colour first: it must leave the map alone.
  params = {k: FIXED[k] for k in ("brightness", "translation", "cutout")}
  out, (maps,) = augment.diff_augment(tf.constant(x), params,
                                      [tf.constant(one_hot)])
  expected = _np_cutout(_np_translate(one_hot, FIXED["translation"]),
                        FIXED["cutout"])
  np.testing.assert_array_equal(maps.numpy(), expected)
  # Where the image was erased or shifted in zeros, so was the map.
  moved = _np_cutout(_np_translate(x + FIXED["brightness"],
                                   FIXED["translation"]), FIXED["cutout"])
  np.testing.assert_allclose(out.numpy(), moved, atol=1e-6)


def test_gradients_reach_the_input_through_every_transform():
  x = tf.Variable(_images())
  for name, value in FIXED.items():
    with tf.GradientTape() as tape:
      out, _ = augment.diff_augment(x, {name: value})
      loss = tf.reduce_sum(out * out)
    grad = tape.gradient(loss, x)
    assert grad is not None and np.abs(grad.numpy()).sum() > 0, name


def test_mixed_precision_input_keeps_its_dtype():
  x = tf.constant(_images(), tf.float16)
  params = augment.draw_params(augment.parse_policy(
      "color,translation,cutout"), 2, SIZE)
  out, _ = augment.diff_augment(x, params)
  assert out.dtype == tf.float16


def test_draw_params_ranges():
  tf.random.set_seed(0)
  params = augment.draw_params(augment.parse_policy(
      "color,translation,cutout"), 512, SIZE)
  value = {k: v.numpy() for k, v in params.items()}
  assert -0.5 <= value["brightness"].min() < value["brightness"].max() < 0.5
  assert 0 <= value["saturation"].min() and value["saturation"].max() < 2
  assert 0.5 <= value["contrast"].min() and value["contrast"].max() < 1.5
  assert set(np.unique(value["translation"])) == {-1, 0, 1}
  # An even cutout side: centres 0..SIZE (the official code's range).
  assert set(np.unique(value["cutout"])) == set(range(SIZE + 1))


def test_parse_policy_orders_transforms_and_refuses_unknown_names():
  assert augment.parse_policy("translation, color") == (
      "translation", "brightness", "saturation", "contrast")
  with pytest.raises(ValueError, match="unknown.*'flip'.*color,translation"):
    augment.parse_policy("color,flip")
  with pytest.raises(ValueError, match="is empty"):
    augment.parse_policy(" , ")
