"""Unit tests of the numerics checks and the graph guard, on toy inputs."""

import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import numerics

PATHS = ["g/enc/conv/kernel", "g/dec/res_0/adalin/rho", "g/dec/out/kernel"]


def _measurements(terms_ok, grads_ok, **values):
  out = {f"finite/{name}": np.float32(ok) for name, ok in terms_ok.items()}
  out.update(finite_grads=np.array(grads_ok, np.float32), loss_scale=1.0)
  out.update(values)
  return out


def test_finiteness_flags_each_term_and_gradient():
  flags = numerics.finiteness(
      {"b": tf.constant(1.0), "a": tf.constant(np.nan)},
      [tf.constant([1.0, np.inf]), tf.constant([2.0])])
  assert (float(flags["finite/a"]), float(flags["finite/b"])) == (0.0, 1.0)
  np.testing.assert_array_equal(flags["finite_grads"], [0.0, 1.0])


def test_all_finite_passes():
  assert numerics.check_finite(
      3, "generator", _measurements({"g_adv": 1}, [1, 1, 1]), PATHS,
      loss_scaled=False)


def test_bad_gradients_are_named_first_in_backprop_order():
  m = _measurements({"g_adv": 0, "g_l1": 1, "generator_output": 0},
                    [0, 0, 1], g_adv=np.nan, g_l1=0.5)
  with pytest.raises(numerics.NumericsError) as info:
    numerics.check_finite(41, "generator", m, PATHS, loss_scaled=False)
  text = str(info.value)
  assert "generator step at step 41" in text
  assert "g_adv=nan, generator_output" in text and "g_l1" not in text
  assert "first bad layer (backprop order): g/dec/res_0/adalin" in text
  assert text.index("g/dec/res_0/adalin/rho") < text.index("g/enc/conv/kernel")
  assert "g/dec/out/kernel" not in text


def test_nan_generator_output_in_the_d_step_blames_the_generator():
  m = _measurements({"d_adv": 1, "generator_output": 0}, [0, 0, 0],
                    d_adv=1.0)
  with pytest.raises(numerics.NumericsError) as info:
    numerics.check_finite(7, "discriminator", m, PATHS, loss_scaled=False)
  text = str(info.value)
  assert "generator's output was already non-finite" in text
  assert "first bad layer" not in text


def test_float16_overflow_is_skipped_not_fatal():
  m = _measurements({"g_adv": 1}, [1, 0, 1], loss_scale=16384.0, g_adv=1.0)
  assert not numerics.check_finite(5, "generator", m, PATHS, loss_scaled=True)


@pytest.mark.parametrize("scale, value", [(0.5, 1.0), (1024.0, np.nan)])
def test_float16_persistent_nan_is_fatal(scale, value):
  m = _measurements({"g_adv": 0}, [1, 0, 1], loss_scale=scale, g_adv=value)
  with pytest.raises(numerics.NumericsError, match="g/dec/res_0/adalin"):
    numerics.check_finite(5, "generator", m, PATHS, loss_scaled=True)


def test_collapse_warns_after_patience_and_stops_when_asked(caplog):
  monitor = numerics.CollapseMonitor(patience=3, stop=False)
  for step in range(3):
    monitor.update(step, {"generator output": 0.0})
  assert "COLLAPSE at step 2" in caplog.text
  monitor = numerics.CollapseMonitor(patience=2, stop=True)
  monitor.update(0, {"style code": 0.0})
  monitor.update(1, {"style code": 0.5})  # A varying step resets the streak.
  monitor.update(2, {"style code": 0.0})
  with pytest.raises(numerics.NumericsError, match="style code"):
    monitor.update(3, {"style code": 0.0})


def test_graph_guard_finalizes_and_names_refused_argument():
  fn = tf.function(lambda x: x * 2.0,
                   input_signature=[tf.TensorSpec([2, 3], tf.float32)])
  fn(tf.ones([2, 3]))
  guard = numerics.GraphGuard()
  guard.watch("toy", fn)
  graph = fn.get_concrete_function().graph
  assert graph.finalized
  with pytest.raises(RuntimeError, match="finalized"):
    with graph.as_default():
      tf.constant(1.0)
  guard.check()
  with pytest.raises((TypeError, ValueError)):
    fn(tf.ones([4, 3]))
  message = guard.explain_mismatch("toy", fn, (tf.ones([4, 3]),))
  assert "'toy'" in message and "[2, 3]" in message and "[4, 3]" in message


def test_graph_guard_detects_a_retrace():
  fn = tf.function(lambda x: x + 1)  # No signature: Python ints retrace.
  fn(1)
  guard = numerics.GraphGuard()
  guard.functions["toy"], guard.counts["toy"] = fn, 1
  fn(2)
  with pytest.raises(numerics.RetraceError, match="'toy' was traced again"):
    guard.check()
