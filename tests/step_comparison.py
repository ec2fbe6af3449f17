"""One training step of two runs that must agree, compared to float32 rounding.

Used by mirrored_step.py (one device against two mirrored replicas) and by
test_shared_pass.py (XLA against the plain graph): the same step computed
with its sums in another order.

Both runs train with SGD, not the config's optimizer (`sgd`; install it as
`precision.make_optimizer` before `train.setup`). One Adam step from zero
moments moves a weight by lr * g / (|g| + eps): +-lr whatever the size of g,
with a slope of lr / eps where g is near 0 (a bias before a normalisation,
whose exact gradient is 0). There the rounding by which one run's gradient
differs from the other's flips whole steps, and weights compared after Adam
differ by up to 2 lr however exact both runs are (issue 22). SGD is linear
in the gradient, so its step keeps rounding at the size of rounding.

A step is smooth only piecewise: where a pre-activation lies within
rounding of a kink (LeakyReLU's at 0; ReLU's, L1's, the hinge's), the runs
can take different sides of it and the derivative there jumps (by 0.8 of
the gradient through a LeakyReLU(0.2)); a batch norm spreads that to every
gradient upstream. So `compare` takes one step on each of BATCHES batches,
all from the same start, and a group fails only if over its bound on every
one: a step that is wrong (a gradient not the global-batch mean, batch
statistics not synchronized) is wrong on every batch, while a kink fell
within rounding on 3 of 150 one-step comparisons of the mirrored configs
(seeds 1-10; AVX-512 and, by ONEDNN_MAX_CPU_ISA, AVX2 kernels) and on 1 of
26 of XLA against the plain graph (seeds 0-12), never on both batches.
"""

import itertools
import json
import os
import subprocess
import sys
from typing import Callable, Dict, Iterator

import keras
import numpy as np
import tensorflow as tf

# About a real step's size, so G's step reads a D moved as in training; a
# power of two, so velocity / -LEARNING_RATE is the gradient bit for bit.
LEARNING_RATE = 2.0**-10
UNIT_ROUNDOFF = 2.0**-24  # float32, round to nearest: |fl(x) - x| <= u |x|.
BATCHES = 2  # One-step comparisons; a group must pass on one of them.
MIRRORED_STEP = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "mirrored_step.py")


def sgd(kind, learning_rate, beta1, beta2, precision, name):
  """Stands in for precision.make_optimizer: see the module docstring.

  One step of SGD with momentum from zero velocity is plain SGD, w - lr g,
  and leaves -lr g in its velocity: the gradient the step applied (after
  the all-reduce, under a strategy), readable without changing the step.
  (Any momentum but 0 keeps the velocity; its value never enters a single
  step.)
  """
  del kind, learning_rate, beta1, beta2, precision  # The comparison's own.
  if keras.mixed_precision.global_policy().compute_dtype != "float32":
    raise ValueError("the bounds are float32's (UNIT_ROUNDOFF)")
  return keras.optimizers.SGD(LEARNING_RATE, momentum=0.5, name=name)


def run_mirrored_step(config, directory: str, timeout: float,
                      batches: int = BATCHES) -> Dict:
  """mirrored_step.py on `config` (any task's; its strategy is set there)
  in a subprocess, whose TensorFlow can still split the CPU in two; its
  JSON result, from `batches` one-step comparisons (`compare`). A hung
  collective fails at `timeout` seconds, not CI."""
  config_path = os.path.join(directory, "config.json")
  with open(config_path, "w") as f:
    json.dump(config.to_dict(), f)
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  out = subprocess.run(
      [sys.executable, MIRRORED_STEP, directory, config_path, str(batches)],
      capture_output=True, text=True, timeout=timeout, check=False,
      env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"))
  assert out.returncode == 0, out.stderr[-4000:]
  return json.loads(out.stdout.splitlines()[-1])


def models(state):
  """The networks the steps change (no EMA copy when --ema_beta=0)."""
  owners = {"generator": state.generator,
            "discriminator": state.discriminator,
            "ema_generator": state.ema_generator}
  return {name: owner for name, owner in owners.items() if owner is not None}


def optimizers(state):
  return {"g_opt": state.g_opt, "d_opt": state.d_opt}


def variables(owners):
  return {f"{name}/{v.path}": v for name, owner in owners.items()
          for v in owner.variables}


def _values(state):
  """Name -> float64 value of every variable the steps change, and each
  trainable variable's gradient as "gradient/" + its name."""
  values = {name: v.numpy().astype(np.float64)
            for name, v in variables(models(state)).items()}
  players = (("generator", state.generator, state.g_opt),
             ("discriminator", state.discriminator, state.d_opt))
  for owner, model, opt in players:
    # train.setup built each optimizer on model.trainable_variables: one
    # velocity per variable, in that order.
    for v, velocity in zip(model.trainable_variables, opt.momentums):
      values[f"gradient/{owner}/{v.path}"] = (
          velocity.numpy().astype(np.float64) / -LEARNING_RATE)
    velocities = {id(m) for m in opt.momentums}
    for v in opt.variables:  # Step counts and the rate: equal exactly.
      if id(v) not in velocities:
        values[f"optimizer/{v.path}"] = v.numpy().astype(np.float64)
  return values


def _layer(name: str) -> str:
  return name.rsplit("/", 1)[0]


def _bounds(first, second, summands):
  """Name -> (group, bound) for every value both runs hold.

  The runs compute the same sums in another order: each replica sums half
  the batch and the all-reduce adds the halves, or XLA fuses and reorders.
  Reordering a float32 sum of n terms changes it by at most
  gamma_n sum|terms|, gamma_n ~ n u. The
  longest sums are the weight gradients' and batch norm's, over batch x
  height x width = `summands` terms (2048 for the mirrored configs); the
  fan-in sums of the layers the error crosses on its way (through D twice
  for R1, through D into G for G's step) are shorter, and their rounding
  errors of either sign mostly cancel (Higham and Mary 2019: ~sqrt(n) u,
  not n u). sum|terms| is not at hand, so the largest gradient of the
  variable's layer stands in for it (a bias before a normalisation has an
  exact gradient of 0 and a computed one of pure rounding; its kernel's is
  not), giving |gradient diff| <= n u max|layer gradient|. Off kinks, the
  worst of the 147 mirrored one-step comparisons above was 0.074 of that,
  and the worst of XLA's 25 (n = 1024, more reordered) 0.29. A gradient
  that is not the global-batch mean (twice it, say) differs by the
  gradient itself, 1 / (n u) ~ 8000 times the bound.

  The rest follows exactly. A weight is w + (-lr g) rounded once in each
  run, the product exact: |dw| <= lr |dg| + u (|w_first| + |w_second|), so
  a weight that starts at 0 (a bias) meets its bound with equality. The
  EMA's beta e + (1 - beta) w is two more roundings of e's size on the
  weights' difference times (1 - beta) <= 1. Spectral-norm u vectors (unit
  vectors from a power iteration) and batch norm's moving statistics (from
  0 and 1) are sums as above, relative to max(1, |value|).
  """
  u = UNIT_ROUNDOFF
  peak = lambda name: max(np.abs(first[name]).max(),
                          np.abs(second[name]).max())
  diff = lambda name: np.abs(first[name] - second[name]).max()
  layer_scale = {}
  for name, value in first.items():
    if name.startswith("gradient/"):
      layer = _layer(name)
      layer_scale[layer] = max(layer_scale.get(layer, 0.0),
                               np.abs(value).max())
  bounds = {}
  for name in first:
    owner, path = name.split("/", 1)
    if owner == "gradient":
      bounds[name] = (f"{path.split('/')[0]}:gradient",
                      summands * u * layer_scale[_layer(name)])
    elif f"gradient/{name}" in first:
      bounds[name] = (owner, LEARNING_RATE * diff(f"gradient/{name}")
                      + 2 * u * peak(name))
    elif owner == "ema_generator":
      source = f"generator/{path}"
      bounds[name] = (owner, diff(source)
                      + 2 * u * (peak(source) + peak(name)))
    elif owner == "optimizer":
      bounds[name] = (owner, 0.0)
    else:
      bounds[name] = (f"{owner}:state",
                      summands * u * max(1.0, peak(name)))
  return bounds


def _differences(first, second, summands):
  """Per group, the variable closest to its bound: its difference, bound,
  their ratio and its name."""
  a, b = _values(first), _values(second)
  groups = {}
  for name, (group, bound) in _bounds(a, b, summands).items():
    diff = float(np.abs(a[name] - b[name]).max())
    ratio = diff / bound if bound else (np.inf if diff else 0.0)
    if ratio >= groups.get(group, {"ratio": -1.0})["ratio"]:
      groups[group] = {"diff": diff, "bound": float(bound), "ratio": ratio,
                       "worst": name}
  return groups


def _step(state, batch):
  """The lazy-R1 D step (adversarial loss + R1) and the G step (+ EMA), or
  the shared step when the config has --shared_generator_pass."""
  if state.steps.phase().shared_pass:
    state.steps.function("shared_step")(batch)
    return
  state.steps.function("d_step_reg")(batch)
  state.steps.function("g_step")(batch)


def _restart(state, start):
  """The models at the values `start`, the velocities at 0."""
  for name, v in variables(models(state)).items():
    v.assign(start[name])
  for opt in optimizers(state).values():
    for velocity in opt.momentums:
      velocity.assign(tf.zeros_like(velocity))


def compare(first, second, batches: Iterator, summands: int,
            second_batch: Callable = lambda batch: batch,
            count: int = BATCHES) -> Dict:
  """Per group, the closest to its bound of `count` one-step comparisons.

  Each starts both runs from `first`'s models as they are now (the
  comparison is of a step, not of seeding) and steps `first` on a global
  batch from `batches`, `second` on `second_batch(batch)`. Returns {group: {"diff", "bound",
  "ratio", "worst", "ratios"}} with the ratios of every batch.
  """
  start = {name: v.numpy() for name, v in variables(models(first)).items()}
  runs = []
  for batch in itertools.islice(batches, count):
    for state in (first, second):
      _restart(state, start)
    _step(first, batch)
    _step(second, second_batch(batch))
    runs.append(_differences(first, second, summands))
  return {group: dict(min((run[group] for run in runs),
                          key=lambda g: g["ratio"]),
                      ratios=[run[group]["ratio"] for run in runs])
          for group in runs[0]}


def assert_within_bounds(groups: Dict) -> None:
  """`compare`'s groups cover both players' gradients, weights and the EMA,
  and each stayed within its bound on some batch."""
  assert {"generator:gradient", "discriminator:gradient", "generator",
          "discriminator", "ema_generator"} <= set(groups), sorted(groups)
  for name, group in groups.items():
    assert group["diff"] <= group["bound"], (name, group)
