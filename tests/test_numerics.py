"""Unit tests of the numerics checks and the graph guard, on toy inputs."""

import numpy as np
import pytest
import tensorflow as tf

from s2f_tf import numerics

PATHS = ["g/enc/conv/kernel", "g/dec/res_0/adalin/rho", "g/dec/out/kernel"]


def _check(step, player, terms_ok, grads_ok, loss_scaled=False,
           loss_scale=1.0, **values):
  return numerics.check_finite(
      step, player,
      finite_terms={name: float(ok) for name, ok in terms_ok.items()},
      finite_grads=np.array(grads_ok, np.float32), values=values,
      loss_scale=loss_scale, variable_paths=PATHS, loss_scaled=loss_scaled)


def test_finiteness_flags_each_term_and_gradient():
  fused, terms, grads = numerics.finiteness(
      {"b": tf.constant(1.0), "a": tf.constant(np.nan)},
      [tf.constant([1.0, np.inf]), tf.constant([2.0])])
  assert (float(terms["a"]), float(terms["b"])) == (0.0, 1.0)
  np.testing.assert_array_equal(grads, [0.0, 1.0])
  assert float(fused) == 0.0
  fused, _, _ = numerics.finiteness({"a": tf.constant(1.0)},
                                    [tf.constant([2.0])])
  assert float(fused) == 1.0


def test_all_finite_passes():
  assert _check(3, "generator", {"g_adv": 1}, [1, 1, 1])


def test_bad_gradients_are_named_first_in_backprop_order():
  with pytest.raises(numerics.NumericsError) as info:
    _check(41, "generator", {"g_adv": 0, "g_l1": 1, "generator_output": 0},
           [0, 0, 1], g_adv=np.nan, g_l1=0.5)
  text = str(info.value)
  assert "generator step at step 41" in text
  assert "g_adv=nan, generator_output" in text and "g_l1" not in text
  assert "first bad layer (backprop order): g/dec/res_0/adalin" in text
  assert text.index("g/dec/res_0/adalin/rho") < text.index("g/enc/conv/kernel")
  assert "g/dec/out/kernel" not in text


def test_nan_generator_output_in_the_d_step_blames_the_generator():
  with pytest.raises(numerics.NumericsError) as info:
    _check(7, "discriminator", {"d_adv": 1, "generator_output": 0},
           [0, 0, 0], d_adv=1.0)
  text = str(info.value)
  assert "generator's output was already non-finite" in text
  assert "first bad layer" not in text


def test_float16_overflow_is_skipped_not_fatal():
  assert not _check(5, "generator", {"g_adv": 1}, [1, 0, 1],
                    loss_scaled=True, loss_scale=16384.0, g_adv=1.0)


@pytest.mark.parametrize("scale, value", [(0.5, 1.0), (1024.0, np.nan)])
def test_float16_persistent_nan_is_fatal(scale, value):
  with pytest.raises(numerics.NumericsError, match="g/dec/res_0/adalin"):
    _check(5, "generator", {"g_adv": 0}, [1, 0, 1], loss_scaled=True,
           loss_scale=scale, g_adv=value)


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
