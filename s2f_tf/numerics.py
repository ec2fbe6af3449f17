"""Numerics and graph hygiene: name the first bad layer, spot collapse, refuse retraces.

The TF1 ancestor of this project lost weeks to two failures: outputs that went
all-zero after NaN gradients appeared in one decoder layer nobody could name,
and memory that ran out because ops kept being added to the graph. This module
turns both into an immediate error that names the culprit.

In-graph, `finiteness` costs one fused reduction per loss term and per
gradient, and folds them into one flag. Out of graph the loop fetches that
one flag per step (the only host sync of a step); when it is below 1,
`check_finite` reads the detailed flags and raises `NumericsError` naming
the step, the loss term and the variables whose gradients went bad, first
in backprop order.
"""

import contextlib
import re
from typing import Dict, List, Sequence, Tuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf


class NumericsError(RuntimeError):
  """A non-finite loss or gradient; the message names where it started."""


class RetraceError(RuntimeError):
  """A step function traced again after warm-up (the graph would grow)."""


def finiteness(checked: Dict[str, tf.Tensor], grads: Sequence[tf.Tensor]
               ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor], tf.Tensor]:
  """Finiteness flags (1 = finite): all fused, per tensor, per gradient.

  Returns (all_finite scalar, {name: flag} of the checked tensors, a vector
  of flags in the order of `grads`). The fused flag is the one value the
  loop fetches every step; the others only when it is below 1.
  float32 rather than bool so that replicas can be reduced with MEAN: the
  mean is exactly 1 only if every replica was finite.
  """
  def flag(t):
    return tf.cast(tf.reduce_all(tf.math.is_finite(t)), tf.float32)
  terms = {name: flag(t) for name, t in checked.items()}
  grad_flags = tf.stack([flag(g) for g in grads])
  fused = tf.reduce_min(tf.concat([tf.stack(list(terms.values())),
                                   grad_flags], 0))
  return fused, terms, grad_flags


def describe_bad_gradients(finite_grads: np.ndarray,
                           variable_paths: Sequence[str]) -> List[str]:
  """Paths of variables with non-finite gradients, first in backprop order.

  Variables are listed in data-flow order (`forward_order`), so backprop
  reaches them in reverse: the first bad one in reverse order is nearest the loss, where
  the NaN or Inf entered the backward pass.
  """
  bad = [p for p, ok in zip(variable_paths, finite_grads) if ok < 1.0]
  return bad[::-1]


def forward_order(forward, variables) -> list:
  """`variables` sorted by when `forward()` first reads them.

  Keras lists variables by creation order, which is not the data flow (the
  style MLP is created before the decoder it feeds, for instance). Recording
  one forward pass on a tape gives the true order; its reverse is the order
  backprop reaches the variables, which is what "first bad layer" means.
  """
  with tf.GradientTape() as tape:
    forward()
  position = {v.ref(): i for i, v in enumerate(tape.watched_variables())}
  unseen = len(position)
  return sorted(variables,
                key=lambda v: position.get(_underlying(v).ref(), unseen))


def _underlying(variable):
  """The tf.Variable behind a Keras variable (what a tape records)."""
  return getattr(variable, "value", variable)


def layer_of(variable_path: str) -> str:
  """'generator/decoder/res_block_0/adalin_1/rho' -> the layer path."""
  return variable_path.rsplit("/", 1)[0]


def check_finite(step: int, player: str, *, finite_terms: Dict[str, float],
                 finite_grads: np.ndarray, values: Dict[str, float],
                 loss_scale: float, variable_paths: Sequence[str],
                 loss_scaled: bool) -> bool:
  """Returns True if the step was fine, False if a loss scaler skipped it.

  Args:
    step: the step index, for the message.
    player: "generator" or "discriminator".
    finite_terms: flag per loss term and watched tensor (`finiteness`).
    finite_grads: flag per gradient, in the order of `variable_paths`.
    values: the step's measurements, to show the bad terms' values.
    loss_scale: the player's loss scale after the step.
    variable_paths: the player's variables in data-flow order.
    loss_scaled: training under float16 dynamic loss scaling.

  Raises NumericsError on a real failure. Under float16 loss scaling an
  overflow is expected now and then: the optimizer already skipped the update
  and halved the scale, so it is counted, not fatal, unless the scale has
  fallen below 1 (the NaN is not an overflow) or a loss term itself is NaN.
  """
  bad_terms = sorted(k for k, ok in finite_terms.items() if ok < 1.0)
  if not bad_terms and np.min(finite_grads, initial=1.0) >= 1.0:
    return True
  if loss_scaled:
    nan_term = any(np.isnan(float(values.get(n, 0.0))) for n in bad_terms)
    if loss_scale >= 1.0 and not nan_term:
      return False
  bad_vars = describe_bad_gradients(finite_grads, variable_paths)
  lines = [f"Non-finite values in the {player} step at step {step}."]
  if bad_terms:
    shown = ", ".join(f"{n}={float(values[n])}" if n in values else n
                      for n in bad_terms)
    lines.append(f"  non-finite in the forward pass: {shown} "
                 "(--check_numerics=full names the op)")
  # Watched tensors are named bare or under the player ("d/generator_output").
  if player == "discriminator" and any(
      n.rsplit("/", 1)[-1] == "generator_output" for n in bad_terms):
    # D's gradients are then only a consequence; blaming D would mislead.
    lines.append("  the generator's output was already non-finite: its last "
                 "update diverged (activations overflow). --check_numerics="
                 "full names the generator layer.")
  elif bad_vars:
    lines.append(f"  first bad layer (backprop order): {layer_of(bad_vars[0])}")
    shown = "\n    ".join(bad_vars[:10])
    more = f" (+{len(bad_vars) - 10} more)" if len(bad_vars) > 10 else ""
    lines.append(f"  variables with non-finite gradients "
                 f"({len(bad_vars)} of {len(variable_paths)}){more}:\n    "
                 f"{shown}")
  lines.append("  No checkpoint was written for this step; the latest one "
               "holds the last good weights. Lower the learning rate, or "
               "rerun with --check_numerics=full to name the op.")
  raise NumericsError("\n".join(lines))


@contextlib.contextmanager
def checking_every_op(enabled: bool = True):
  """--check_numerics=full: TensorFlow checks every op traced (and every
  eager op run) inside, then stops checking.

  Enter it after the models are built: under the callback their eager build
  call took 20 s of the tiny test model's 25 s setup and checks no training
  op, while every step traced inside is still instrumented.
  """
  if not enabled:
    yield
    return
  tf.debugging.enable_check_numerics()
  try:
    yield
  finally:
    tf.debugging.disable_check_numerics()


def explain_check_numerics_error(error: tf.errors.InvalidArgumentError,
                                 step: int,
                                 variable_paths: Sequence[str]) -> NumericsError:
  """Turns tf.debugging.enable_check_numerics' report into a short message.

  TensorFlow names the op ("Sqrt") and its graph node, whose name scopes
  carry the layer path with uniquifying suffixes ("decoder_1/res_block_0_1/
  adalin_1_1/Sqrt"); we map the node back to the model's layer paths.
  """
  text = str(error.message)
  op = re.search(r'graph op "([^"]+)"', text) or re.search(r"op (\w+)", text)
  node = re.search(r"\{\{node ([^}]+)\}\}", text)
  node_name = node.group(1) if node else ""
  layer = layer_of_node(node_name, {layer_of(p) for p in variable_paths})
  direction = ("backward pass" if node_name.startswith("gradient")
               else "forward pass")
  where = f"layer {layer}" if layer else f"node {node_name or '?'}"
  return NumericsError(
      f"NaN or Inf at step {step} in the {direction}: first produced by op "
      f"{op.group(1) if op else '?'} in {where}.\n"
      f"  TensorFlow node: {node_name or 'unknown'}")


def layer_of_node(node_name: str, layer_paths) -> str:
  """The layer path whose scopes best match `node_name`.

  Forward nodes carry the whole path; gradient nodes drop the model's scope
  ("gradient_tape/decoder_1/..."), so trailing parts of a path count too, and
  the path matching the most scopes wins.
  """
  best, best_score = "", 0
  for path in sorted(layer_paths):
    parts = path.split("/")
    for start in range(len(parts)):
      scopes = [re.escape(c) + r"(?:_\d+)?" for c in parts[start:]]
      if re.search(r"(^|/)" + "/".join(scopes) + "/", node_name):
        if len(parts) - start > best_score:
          best, best_score = path, len(parts) - start
        break
  return best


class CollapseMonitor:
  """Warns when generator outputs or style codes stop varying over a batch.

  An all-zero (or all-constant) output is the failure that hid the original
  NaN: its batch standard deviation drops to ~0 and stays there.
  """

  def __init__(self, patience: int, stop: bool, threshold: float = 1e-4):
    self.patience = patience
    self.stop = stop
    self.threshold = threshold
    self.streaks = {}

  def update(self, step: int, stds: Dict[str, float]) -> None:
    for name, std in stds.items():
      streak = self.streaks.get(name, 0) + 1 if std < self.threshold else 0
      self.streaks[name] = streak
      if streak >= self.patience:
        message = (f"COLLAPSE at step {step}: {name} has had batch std "
                   f"< {self.threshold:g} for {streak} consecutive log steps "
                   f"(now {std:.3g}); the generator outputs a constant.")
        if self.stop:
          raise NumericsError(message + " Stopping (--stop_on_collapse).")
        logging.warning("%s Pass --stop_on_collapse to stop instead.",
                        message)


class GraphGuard:
  """Freezes the step functions after warm-up and refuses any retrace.

  After the first call of each function, its FuncGraph is finalized (adding
  an op raises) and its tracing count is recorded. `check` compares the count
  again; a retrace means a new graph per call, the TF2 form of the TF1 leak.
  Step functions have input signatures, so an argument of another shape or
  dtype is refused by TensorFlow instead; `explain_mismatch` names it.
  """

  def __init__(self):
    self.functions = {}
    self.counts = {}

  def watch(self, name: str, function) -> None:
    """Finalizes `function`'s (single) graph and records its tracing count."""
    function.get_concrete_function().graph.finalize()
    self.functions[name] = function
    self.counts[name] = function.experimental_get_tracing_count()

  def check(self) -> None:
    for name, function in self.functions.items():
      count = function.experimental_get_tracing_count()
      if count != self.counts[name]:
        raise RetraceError(
            f"step function '{name}' was traced again after warm-up "
            f"({self.counts[name]} -> {count} traces): every retrace adds a "
            "graph and leaks memory. Something passed to it changed type or "
            "shape; pass tensors with fixed shapes, not Python values.")

  def explain_mismatch(self, name: str, function, args: Sequence) -> str:
    """Names the argument whose spec differs from the traced signature."""
    expected = _flat_with_paths(tuple(function.input_signature))
    try:
      given = dict(_flat_with_paths(tuple(args)))
    except (TypeError, ValueError):
      given = {}
    for path, spec in expected:
      value = given.get(path)
      if value is None or not spec.is_compatible_with(value):
        got = (f"{value.dtype.name} {list(value.shape)}"
               if hasattr(value, "shape") else repr(value))
        return (f"step function '{name}' refused argument '{path}': expected "
                f"{spec.dtype.name} {spec.shape.as_list()}, got {got}. Step "
                "functions are traced once with "
                "fixed specs; feed batches of the same shape and dtype.")
    return (f"step function '{name}' refused its arguments: their structure "
            f"differs from {function.input_signature}")


def _flat_with_paths(structure):
  """[('0/photo', leaf), ...]: readable paths into nested arguments."""
  return [("/".join(str(p) for p in path), leaf)
          for path, leaf in keras.tree.flatten_with_path(structure)]
