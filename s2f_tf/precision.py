"""Mixed precision in one place: the policy, its `auto` choice, the optimizers.

Under `mixed_float16` each player gets its own `LossScaleOptimizer`, because
the generator's and discriminator's gradients overflow at different scales;
gradients always go through `optimizer.scale_loss` so the same step code serves
every precision. Norm statistics, losses and model outputs stay float32 (the
layers and losses cast explicitly).

`--precision=auto` resolves to a concrete policy before anything is built
(`resolve`), so `config.json` records what the run really used.
"""

import contextlib
import dataclasses
from typing import Iterable, Sequence, Tuple

from absl import logging
import keras

# /proc/cpuinfo flags of CPUs with native bfloat16 dot products: AVX512_BF16
# (Cooper Lake, Zen 4 and later) or AMX (Sapphire Rapids and later).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# float16 Tensor Cores arrived with Volta (compute capability 7.0).
FLOAT16_MIN_CAPABILITY = (7, 0)


def choose(cpu_flags: Iterable[str], gpu_capabilities: Sequence[Tuple[int, int]],
           has_tpu: bool) -> Tuple[str, str]:
  """(policy, why) for `--precision=auto` on the described machine.

  Pure, so tests can describe any machine. Accelerators decide first: the
  steps run there, not on the host CPU. A GPU older than Volta has no fast
  float16 path and gets float32, as does a CPU without bfloat16 units, where
  bfloat16 is emulated and slower than float32.
  """
  if has_tpu:
    return "mixed_bfloat16", "a TPU is attached"
  if gpu_capabilities:
    oldest = min(gpu_capabilities)
    if oldest >= FLOAT16_MIN_CAPABILITY:
      return "mixed_float16", f"GPU compute capability {oldest[0]}.{oldest[1]}"
    return "float32", (f"GPU compute capability {oldest[0]}.{oldest[1]} "
                       "< 7.0 (no Tensor Cores)")
  found = sorted(set(cpu_flags) & set(BF16_CPU_FLAGS))
  if found:
    return "mixed_bfloat16", f"CPU has {', '.join(found)}"
  return "float32", "CPU without AVX512_BF16 or AMX"


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> Tuple[str, ...]:
  """The CPU feature flags of the first core; () where there is no cpuinfo."""
  try:
    with open(cpuinfo_path) as f:
      for line in f:
        if line.startswith("flags"):
          return tuple(line.split(":", 1)[1].split())
  except OSError:
    pass
  return ()


def _accelerators() -> Tuple[Sequence[Tuple[int, int]], bool]:
  """(compute capability of each visible GPU, whether a TPU is attached)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  capabilities = [
      tf.config.experimental.get_device_details(gpu).get(
          "compute_capability", (0, 0))
      for gpu in tf.config.list_physical_devices("GPU")]
  return capabilities, bool(tf.config.list_logical_devices("TPU"))


def resolve(name: str, cpuinfo_path: str = "/proc/cpuinfo") -> str:
  """`name` itself, or for "auto" the policy `choose` picks here (logged)."""
  if name != "auto":
    return name
  gpus, has_tpu = _accelerators()
  policy, why = choose(cpu_flags(cpuinfo_path), gpus, has_tpu)
  logging.info("--precision=auto chose %s: %s.", policy, why)
  return policy


def resolve_config(config):
  """`config` with `train.precision` resolved (`resolve`); else unchanged."""
  precision = resolve(config.train.precision)
  if precision == config.train.precision:
    return config
  return dataclasses.replace(config, train=dataclasses.replace(
      config.train, precision=precision))


@contextlib.contextmanager
def precision_policy(name: str):
  """Sets the global Keras dtype policy for the models built inside.

  The previous policy is restored on exit so that tests and in-process callers
  never leak a float16 policy into the next model they build.
  """
  previous = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy(name)
  try:
    yield
  finally:
    keras.mixed_precision.set_global_policy(previous)


def make_optimizer(kind: str, learning_rate, beta1: float, beta2: float,
                   precision: str, name: str) -> keras.optimizers.Optimizer:
  """Adam or RMSprop, wrapped in a dynamic LossScaleOptimizer for float16.

  bfloat16 has float32's exponent range, so it needs no loss scaling.
  `learning_rate` is a float or a schedule (`s2f_tf.schedules`).
  """
  if kind == "rmsprop":
    optimizer = keras.optimizers.RMSprop(learning_rate=learning_rate,
                                         name=name)
  else:
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate,
                                      beta_1=beta1, beta_2=beta2, name=name)
  if precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer,
                                                    name=f"{name}_scaled")
  return optimizer


def loss_scale(optimizer: keras.optimizers.Optimizer):
  """The current dynamic loss scale, or 1.0 for unscaled optimizers."""
  if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
    return optimizer.dynamic_scale
  return 1.0
