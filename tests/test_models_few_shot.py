"""Tests for s2f_tf.models.few_shot: shapes, dynamic K, style modes, precision."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf.models import few_shot

TINY = config_lib.tiny_config().family
CH = config_lib.tiny_config().model.base_channels


def _inputs(batch, k, size, seed=0):
  rng = np.random.RandomState(seed)
  sketch = rng.uniform(-1, 1, (batch, size, size, 1)).astype("float32")
  refs = rng.uniform(-1, 1, (batch, k, size, size, 3)).astype("float32")
  return sketch, refs


def _tiny_models():
  config = config_lib.tiny_config()
  size = config.data.image_size
  return (few_shot.build_generator(config.family, size,
                                   config.model.base_channels,
                                   config.data.k_refs),
          few_shot.build_discriminator(config.family, size))


@pytest.fixture(scope="module")
def models():
  return _tiny_models()


@pytest.mark.parametrize("size", [16, 32])
def test_output_shapes(size):
  g = few_shot.build_generator(TINY, size, CH, k_refs=2)
  d = few_shot.build_discriminator(TINY, size)
  sketch, refs = _inputs(3, 2, size)
  image = g({"sketch": sketch, "refs": refs})
  assert image.shape == (3, size, size, 3) and image.dtype == tf.float32
  assert np.all(np.abs(image.numpy()) <= 1.0)
  assert g.encode_content(sketch).shape == (3, size // 4, size // 4, 32)
  assert g.encode_style(refs).shape == (3, TINY.style_dim)
  assert g.encode_style_per_image(refs).shape == (3, 2, TINY.style_dim)
  outputs = d((image, sketch))
  assert len(outputs) == TINY.num_d
  for i, (logits, features) in enumerate(outputs):
    side = logits.shape[1]
    assert logits.shape == (3, side, side, 1) and logits.dtype == tf.float32
    assert side == max(size // 2**(i + TINY.d_layers), 2)
    assert len(features) == TINY.d_layers + 1


def test_strides_clamp_so_coarse_scales_stay_at_least_2x2():
  cfg = dataclasses.replace(TINY, num_d=3, d_layers=4)
  d = few_shot.build_discriminator(cfg, 16)
  sketch, _ = _inputs(1, 1, 16)
  for logits, features in d((tf.zeros([1, 16, 16, 3]), sketch)):
    assert logits.shape[1] >= 2
    assert all(f.shape[1] >= 2 for f in features)


def test_k_at_inference_may_differ_from_training(models):
  g, _ = models  # Built with k_refs=2.
  sketch, refs = _inputs(2, 4, 16)
  call = tf.function(
      lambda s, r: g({"sketch": s, "refs": r}),
      input_signature=[tf.TensorSpec([None, 16, 16, 1]),
                       tf.TensorSpec([None, None, 16, 16, 3])])
  for k in (1, 4):
    assert call(sketch, refs[:, :k]).shape == (2, 16, 16, 3)
  np.testing.assert_allclose(
      g.encode_style(refs).numpy(),
      g.encode_style_per_image(refs).numpy().mean(axis=1), atol=1e-5)
  # The style is an average: K copies of one photo give that photo's style.
  copies = np.repeat(refs[:, :1], 4, axis=1)
  np.testing.assert_allclose(g.encode_style(copies).numpy(),
                             g.encode_style(refs[:, :1]).numpy(), atol=1e-5)


@pytest.mark.parametrize("source", ["random", "zeros"])
def test_debug_style_sources_ignore_references(source):
  g = few_shot.build_generator(
      dataclasses.replace(TINY, style_source=source), 16, CH)
  sketch, refs = _inputs(2, 3, 16)
  style = g.encode_style(refs).numpy()
  assert style.shape == (2, TINY.style_dim)
  assert g.style_embedder is None
  assert not any("style_embedder" in v.path for v in g.weights)
  if source == "zeros":
    np.testing.assert_array_equal(style, 0.0)
  else:
    assert not np.allclose(style, g.encode_style(refs).numpy())
  assert g({"sketch": sketch, "refs": refs}).shape == (2, 16, 16, 3)
  with pytest.raises(ValueError, match="embedder"):
    g.encode_style_per_image(refs)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_outputs_are_float32_and_finite(policy):
  keras.config.set_dtype_policy(policy)
  try:
    g, d = _tiny_models()
    sketch, refs = _inputs(2, 3, 16)
    image = g({"sketch": sketch, "refs": refs}, training=True)
    outputs = d((image, sketch), training=True)
  finally:
    keras.config.set_dtype_policy("float32")
  assert image.dtype == tf.float32 and np.all(np.isfinite(image.numpy()))
  assert g.encode_style(refs).dtype == tf.float32
  for logits, _ in outputs:
    assert logits.dtype == tf.float32 and np.all(np.isfinite(logits.numpy()))
  assert all(v.dtype == "float32" for v in g.weights + d.weights)


def test_discriminator_training_flag_reaches_spectral_norm(models):
  _, d = models
  sketch, _ = _inputs(2, 1, 16)
  image = tf.zeros([2, 16, 16, 3])
  u = [v for v in d.non_trainable_variables if v.path.endswith("/u")]
  assert len(u) == TINY.num_d * (TINY.d_layers + 2)
  before = [v.numpy() for v in u]
  d((image, sketch), training=False)
  assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, u))
  d((image, sketch), training=True)
  assert not any(np.array_equal(b, v.numpy()) for b, v in zip(before, u))


def test_variable_paths_are_descriptive_and_unique(models):
  g, d = models
  paths = [v.path for v in g.trainable_variables + d.trainable_variables]
  assert len(paths) == len(set(paths))
  for path in ("generator/content_encoder/conv_in/kernel",
               "generator/style_embedder/to_style/kernel",
               "generator/style_mlp/to_adalin/kernel",
               "generator/decoder/res_block_0/adalin_1/rho",
               "generator/decoder/up_block_1/iln/rho",
               "generator/decoder/conv_out/kernel",
               "discriminator/scale_1/conv_0/conv/kernel",
               "discriminator/scale_0/logits/conv/bias"):
    assert path in paths


def test_get_config_round_trip(models):
  for model in models:
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
  assert clone.num_scales == TINY.num_d and clone.channels == TINY.d_channels
  g = type(models[0]).from_config(models[0].get_config())
  assert (g.family_config, g.base_channels) == (TINY, CH)


@pytest.mark.parametrize("size", [12, 18, 512])
def test_unsupported_image_sizes_fail_early(size):
  with pytest.raises(ValueError, match="image_size"):
    few_shot.Generator(TINY, size, CH)


def _kernel_shapes(model):
  return {v.path: tuple(v.shape) for v in model.variables}


def test_cheaper_up_convs_and_pooled_style_photos_change_only_their_layers():
  """--up_kernel=3 and --style_pool=2 (the demo's): 3x3 up-sampling convs,
  and a style embedder that pools the photos and has one stride-2 conv
  fewer; every other variable keeps its path and shape (a default run's
  checkpoint is untouched by the new flags), and outputs keep theirs."""
  size = 16
  full = few_shot.build_generator(TINY, size, CH, k_refs=2)
  cheap = few_shot.build_generator(
      dataclasses.replace(TINY, up_kernel=3, style_pool=2), size, CH,
      k_refs=2)
  sketch, refs = _inputs(2, 2, size)
  assert tuple(cheap({"sketch": sketch, "refs": refs}).shape) == (
      2, size, size, 3)
  before, after = _kernel_shapes(full), _kernel_shapes(cheap)
  changed = {p for p in before if before[p] != after.get(p)}
  up_kernels = {p for p in before if "up_block" in p and p.endswith("kernel")}
  assert up_kernels and all(after[p][:2] == (3, 3) for p in up_kernels)
  assert all(before[p][:2] == (5, 5) for p in up_kernels)
  # 16 px / 4 = 2 stride-2 convs at full size, 1 after pooling by 2, so
  # the style's last layer reads the narrower down_0.
  assert changed == up_kernels | {
      p for p in before if "style_embedder/down_1" in p} | {
          "generator/style_embedder/to_style/kernel"}
  assert set(after) <= set(before)


@pytest.mark.parametrize("field, value, message", [
    ("up_kernel", 4, "--up_kernel=4 must be odd"),
    ("up_kernel", 0, "--up_kernel=0 must be odd"),
    ("style_pool", 3, "--style_pool=3 must be >= 1 and divide"),
    ("style_pool", 8, "--style_pool=8 must be >= 1 and divide"),
])
def test_bad_up_kernel_or_style_pool_fails_with_the_flag(field, value,
                                                         message):
  with pytest.raises(ValueError, match=message):
    few_shot.Generator(dataclasses.replace(TINY, **{field: value}), 16, CH)
