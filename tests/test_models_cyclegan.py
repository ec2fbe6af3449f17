"""Tests for CycleGAN's generator, 70x70 PatchGAN and history image pool."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import losses
from s2f_tf import precision
from s2f_tf.layers import blocks
from s2f_tf.models import cyclegan

SIZE, CH = 32, 4
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _images(seed, batch=2, size=SIZE):
  return tf.constant(np.random.RandomState(seed).uniform(
      -1, 1, (batch, size, size, 3)), tf.float32)


def _res_blocks(generator):
  return [l for l in generator.net.layers if isinstance(l, blocks.ResBlock)]


def test_generator_shapes_range_and_paper_block_counts():
  g = cyclegan.build_cyclegan_generator(SIZE, CH)
  out = g(_images(0), training=True)
  assert out.shape == (2, SIZE, SIZE, 3) and out.dtype == tf.float32
  assert np.abs(out.numpy()).max() <= 1.0
  assert len(_res_blocks(g)) == 6
  assert [cyclegan.default_res_blocks(s) for s in (64, 128, 256)] == [6, 6, 9]
  assert len(_res_blocks(cyclegan.CycleGANGenerator(256, 1))) == 9


@pytest.mark.parametrize("size,patches", [(32, 2), (64, 6), (256, 30)])
def test_discriminator_patch_map_as_the_authors_code(size, patches):
  d = cyclegan.build_cyclegan_discriminator(size, 2)
  logits = d(tf.zeros([1, size, size, 3]))
  assert logits.shape == (1, patches, patches, 1) == (
      1, size // 8 - 2, size // 8 - 2, 1)
  widths = [l.filters for l in d.net.layers
            if isinstance(l, keras.layers.Conv2D)]
  assert widths == [2, 4, 8, 16, 1]  # C64-C128-C256-C512, then the logits.


def test_weights_start_at_gaussian_0_02():
  keras.utils.set_random_seed(0)
  g = cyclegan.build_cyclegan_generator(SIZE, 8, n_res=1)
  kernel = [v for v in g.trainable_variables
            if v.path.endswith("res_block_0/conv_0/kernel")][0].numpy()
  assert kernel.size == 9 * 32 * 32
  assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001


def test_mixed_bfloat16_outputs_are_float32():
  with precision.precision_policy("mixed_bfloat16"):
    g = cyclegan.build_cyclegan_generator(SIZE, CH)
    d = cyclegan.build_cyclegan_discriminator(SIZE, CH)
  assert g.net.layers[0].compute_dtype == "bfloat16"
  fake = g(_images(1), training=True)
  logits = d(fake, training=True)
  assert fake.dtype == logits.dtype == tf.float32
  assert np.isfinite(logits.numpy()).all()


def test_gradients_reach_every_trainable_variable():
  keras.utils.set_random_seed(2)
  g = cyclegan.build_cyclegan_generator(SIZE, CH, n_res=2)
  d = cyclegan.build_cyclegan_discriminator(SIZE, CH)
  real = _images(3)
  with tf.GradientTape(persistent=True) as tape:
    fake = g(real, training=True)
    g_loss = (losses.lsgan_generator_loss(d(fake, training=True))
              + losses.cycle_loss(real, fake))
    d_loss = losses.lsgan_discriminator_loss(d(real, training=True),
                                             d(fake, training=True))
  for loss, model in [(g_loss, g), (d_loss, d)]:
    grads = tape.gradient(loss, model.trainable_variables)
    dead = [v.path for v, gr in zip(model.trainable_variables, grads)
            if gr is None or not np.any(gr.numpy())]
    assert not dead


def test_bad_sizes_are_refused():
  with pytest.raises(ValueError, match="image_size // 2\\*\\*n_layers"):
    cyclegan.build_cyclegan_discriminator(16, CH)
  with pytest.raises(ValueError, match="multiple of 4"):
    cyclegan.build_cyclegan_generator(30, CH)
  with pytest.raises(ValueError, match="pool_size=-1"):
    cyclegan.ImagePool((1, 1, 1), pool_size=-1)


def test_config_round_trip():
  for model in (cyclegan.build_cyclegan_generator(16, 2, n_res=1, name="g"),
                cyclegan.build_cyclegan_discriminator(SIZE, 2, name="d")):
    x = _images(4, size=model.image_size)
    clone = type(model).from_config(model.get_config())
    clone(x)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), atol=1e-6)


# ImagePool. Images are 1x1x1 with distinct values, so every output can be
# traced to the input or the stored image it is.

def _batches(n_batches, batch, start=0):
  ids = np.arange(start, start + n_batches * batch, dtype=np.float32)
  return [tf.constant(b.reshape(batch, 1, 1, 1)) for b in
          np.split(ids, n_batches)]


def _replay(pool_before, inputs, outputs):
  """The pool after `inputs` if `outputs` obey the pool's rule, and the
  number of swaps; raises AssertionError where they do not."""
  pool, swaps = list(pool_before), 0
  for x, y in zip(inputs, outputs):
    if y != x:  # Swapped: y was stored, x takes its slot.
      assert y in pool, (x, y, pool)
      pool[pool.index(y)] = x
      swaps += 1
  return pool, swaps


def test_pool_fills_with_the_first_images_then_swaps_half_at_random():
  pool = cyclegan.ImagePool((1, 1, 1), pool_size=50, seed=0)
  filling = _batches(13, 4)  # 52 images: the first 50 fill the pool.
  outputs = np.concatenate([pool(b).numpy().ravel() for b in filling])
  inputs = np.concatenate([b.numpy().ravel() for b in filling])
  np.testing.assert_array_equal(outputs[:50], inputs[:50])
  assert int(pool.count.numpy()) == 50
  stored, swaps = _replay(list(inputs[:50]), inputs[50:], outputs[50:])
  np.testing.assert_array_equal(pool.images.numpy().ravel(), stored)
  total, seen = swaps, len(inputs) - 50
  for batch in _batches(100, 4, start=1000):
    out = pool(batch).numpy().ravel()
    stored, swaps = _replay(stored, batch.numpy().ravel(), out)
    np.testing.assert_array_equal(pool.images.numpy().ravel(), stored)
    total, seen = total + swaps, seen + 4
  # Binomial(402, 0.5): mean 201, sd 10; the bounds are 5 sd.
  assert 150 < total < 252, total
  # 200 uniform draws of 50 slots touch ~49 of them.
  assert (np.asarray(stored) >= 1000).sum() >= 40
  assert int(pool.count.numpy()) == 50


def test_pool_in_a_compiled_step_draws_as_eagerly_and_resumes_exactly(
    tmp_path):
  eager = cyclegan.ImagePool((1, 1, 1), pool_size=5, seed=7)
  compiled = cyclegan.ImagePool((1, 1, 1), pool_size=5, seed=7)
  step = tf.function(compiled.__call__)
  batches = _batches(6, 3)
  for b in batches:
    np.testing.assert_array_equal(step(b).numpy(), eager(b).numpy())
  checkpoint = tf.train.Checkpoint(pool=compiled)
  path = checkpoint.save(str(tmp_path / "pool"))
  later = _batches(4, 3, start=100)
  expected = [step(b).numpy() for b in later]
  resumed = cyclegan.ImagePool((1, 1, 1), pool_size=5, seed=123)
  tf.train.Checkpoint(pool=resumed).restore(path).assert_consumed()
  for b, want in zip(later, expected):
    np.testing.assert_array_equal(resumed(b).numpy(), want)


def test_empty_pool_passes_through_as_float32_without_gradient():
  pool = cyclegan.ImagePool((2, 2, 3), pool_size=0)
  x = tf.Variable(tf.random.normal([2, 2, 2, 3]), dtype=tf.float32)
  with tf.GradientTape() as tape:
    out = pool(tf.cast(x, tf.bfloat16))
    loss = tf.reduce_sum(out)
  assert out.dtype == tf.float32 and tape.gradient(loss, x) is None
  np.testing.assert_allclose(out.numpy(),
                             tf.cast(tf.cast(x, tf.bfloat16), tf.float32))


_MIRRORED = """
import json, sys
import numpy as np
import tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)
from s2f_tf.models import cyclegan
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
  pool = cyclegan.ImagePool((1, 1, 1), pool_size=4, seed=0)

@tf.function
def step(start):
  def replica():
    rid = tf.distribute.get_replica_context().replica_id_in_sync_group
    ids = start + 1000.0 * tf.cast(rid, tf.float32) + tf.range(2.0)
    return pool(tf.reshape(ids, [2, 1, 1, 1]))
  return strategy.run(replica)

outs = [[t.numpy().ravel().tolist()
         for t in strategy.experimental_local_results(step(float(s)))]
        for s in range(0, 40, 2)]
stored = [v.numpy().ravel().tolist()
          for v in strategy.experimental_local_results(pool.images)]
print(json.dumps(dict(outs=outs, stored=stored)))
"""


@pytest.mark.slow
def test_pool_is_per_replica_under_a_mirrored_strategy():
  """Logical devices need a fresh process (TF has initialised ours)."""
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, "-c", _MIRRORED], env=env,
                          capture_output=True, text=True, timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  found = json.loads(result.stdout.strip().splitlines()[-1])
  for replica in (0, 1):
    outputs = [x for step in found["outs"] for x in step[replica]]
    # Each replica only ever returns and stores images of its own batches.
    assert all((x >= 1000) == bool(replica) for x in outputs)
    assert all((x >= 1000) == bool(replica)
               for x in found["stored"][replica])
  # Each replica draws its own stream: the swaps differ.
  offset = [[x - 1000 for x in step[1]] for step in found["outs"]]
  assert offset != [step[0] for step in found["outs"]]
