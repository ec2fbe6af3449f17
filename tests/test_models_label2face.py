"""Tests for s2f_tf.models.label2face: one-hot, few-shot region codes, modes."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import config_families
from s2f_tf import precision
from s2f_tf.data import layout
from s2f_tf.models import label2face

SIZE = 16
TINY = config_families.Label2FaceConfig(n_up=2, spade_hidden=8, style_dim=8,
                                        num_d=2, d_layers=2, d_channels=8)
CH = 4
MODES = [dict(norm_mode="spade"), dict(norm_mode="clade", add_dist=True),
         dict(norm_mode="sean"), dict(norm_mode="spade", use_vae=True),
         dict(norm_mode="clade", param_free_norm="batch")]


def _inputs(batch=2, k=2, seed=0):
  rng = np.random.RandomState(seed)
  return {"labels": rng.randint(0, 19, (batch, SIZE, SIZE)).astype("int32"),
          "refs": rng.uniform(-1, 1, (batch, k, SIZE, SIZE, 3)).astype(
              "float32"),
          "ref_labels": rng.randint(0, 19, (batch, k, SIZE, SIZE)).astype(
              "int32")}


def test_one_hot_commutes_with_flip_relabelling():
  ids = np.random.RandomState(0).randint(0, 19, (2, 6, 6)).astype("uint8")
  flipped = layout.FLIP_CLASS[ids[:, :, ::-1]]
  expected = np.eye(19)[ids][:, :, ::-1][..., layout.FLIP_CLASS]
  np.testing.assert_array_equal(label2face.one_hot(flipped, 19).numpy(),
                                expected)
  swapped = label2face.one_hot(flipped, 19).numpy()
  l_eye, r_eye = layout.CLASS_ID["l_eye"], layout.CLASS_ID["r_eye"]
  np.testing.assert_array_equal(swapped[..., l_eye],
                                np.eye(19)[ids][:, :, ::-1, r_eye])


@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(
    str(v) for v in m.values()))
def test_modes_shapes_dtypes_and_round_trip(mode):
  cfg = dataclasses.replace(TINY, **mode)
  g = label2face.build_generator(cfg, SIZE, CH, k_refs=2)
  inputs = _inputs(k=3)  # K differs from the build's: dynamic.
  y = g(inputs)
  assert y.shape == (2, SIZE, SIZE, 3) and y.dtype == tf.float32
  assert np.abs(y.numpy()).max() <= 1.0
  clone = label2face.Label2FaceGenerator.from_config(g.get_config())
  clone(label2face.dummy_inputs(SIZE))
  clone.set_weights(g.get_weights())
  np.testing.assert_allclose(clone(inputs).numpy(), y.numpy(), atol=1e-6)


@pytest.mark.parametrize("norm_mode", ["spade", "clade", "sean"])
def test_mixed_bfloat16_keeps_float32_output(norm_mode):
  cfg = dataclasses.replace(TINY, norm_mode=norm_mode)
  with precision.precision_policy("mixed_bfloat16"):
    g = label2face.build_generator(cfg, SIZE, CH)
    y = g(_inputs(), training=True)
  assert y.dtype == tf.float32 and np.isfinite(y.numpy()).all()


def _sean():
  return label2face.build_generator(
      dataclasses.replace(TINY, norm_mode="sean"), SIZE, CH, k_refs=2)


def test_sean_codes_average_only_references_that_show_the_region():
  g, inputs = _sean(), _inputs(batch=1, k=2)
  hair = layout.CLASS_ID["hair"]
  inputs["ref_labels"][0, 1][inputs["ref_labels"][0, 1] == hair] = 0
  style = g.encode_style(inputs)
  codes, present = g.encode_regions_per_image(inputs["refs"][0],
                                              inputs["ref_labels"][0])
  assert present[0, hair] == 1 and present[1, hair] == 0
  np.testing.assert_allclose(style["style"][0, hair].numpy(),
                             codes[0, hair].numpy(), atol=1e-6)
  np.testing.assert_allclose(style["style"][0, 0].numpy(),
                             codes[:, 0].numpy().mean(0), atol=1e-6)


def test_sean_ignores_references_when_no_region_has_a_code():
  g = _sean()
  a, b = _inputs(seed=1), _inputs(seed=2)
  for inputs in (a, b):  # Target all skin; references all background.
    inputs["labels"][:] = layout.CLASS_ID["skin"]
    inputs["ref_labels"][:] = 0
  np.testing.assert_allclose(g(a).numpy(), g(b).numpy(), atol=1e-6)
  a["ref_labels"][:] = layout.CLASS_ID["skin"]
  assert np.abs(g(a).numpy() - g(b).numpy()).max() > 1e-4


@pytest.mark.parametrize("mode", [m for m in MODES if "use_vae" not in m],
                         ids=lambda m: "-".join(str(v) for v in m.values()))
def test_an_example_reads_only_itself_unless_batch_norm(mode):
  """In training mode, example 0's output is bit for bit the same whatever
  example 1 holds: no layer but batch norm mixes the examples of a batch,
  which is what lets a mirrored step split the batch over replicas
  (test_tasks_label2face compares that step for synchronized batch norm).
  Same shapes, same kernels, same spectral-norm state: example 0's
  arithmetic is the same sums in the same order, so the comparison is
  exact. The VAE draws fresh noise per call and is left out."""
  cfg = dataclasses.replace(TINY, **mode)
  g = label2face.build_generator(cfg, SIZE, CH, k_refs=2)
  inputs, other = _inputs(seed=3), _inputs(seed=4)
  changed = {k: np.concatenate([inputs[k][:1], other[k][1:]]) for k in inputs}
  state = [v.numpy() for v in g.non_trainable_variables]

  def example_0(x):  # From the same spectral-norm u (a call advances it).
    for v, value in zip(g.non_trainable_variables, state):
      v.assign(value)
    return g(x, training=True).numpy()[0]

  first, second = example_0(inputs), example_0(changed)
  if cfg.param_free_norm == "batch":
    assert np.abs(first - second).max() > 1e-4  # The check can fail.
  else:
    np.testing.assert_array_equal(first, second)


def test_discriminator_reads_image_and_one_hot_map():
  d = label2face.build_discriminator(TINY, SIZE)
  labels = label2face.one_hot(_inputs()["labels"], TINY.label_nc)
  outputs = d((tf.zeros([2, SIZE, SIZE, 3]), labels))
  assert len(outputs) == TINY.num_d
  first_conv = d.scales[0].convs[0].layer
  assert first_conv.kernel.shape[2] == 3 + TINY.label_nc


def test_size_not_divisible_by_upsampling_is_a_clear_error():
  with pytest.raises(ValueError, match="2\\*\\*n_up=8"):
    label2face.build_generator(dataclasses.replace(TINY, n_up=3), 20, CH)
