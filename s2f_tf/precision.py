"""Mixed precision in one place: the policy, its `auto` choice, the optimizers.

Under `mixed_float16` each player gets its own `LossScaleOptimizer`, because
the generator's and discriminator's gradients overflow at different scales;
gradients always go through `optimizer.scale_loss` so the same step code serves
every precision. Norm statistics, losses and model outputs stay float32 (the
layers and losses cast explicitly).

`--precision=auto` resolves to a concrete policy before anything is built
(`resolve_config`), by measurement rather than by CPU flags: the probe
(`s2f_tf.precision_probe`) times float32 against bfloat16 (float16 on a GPU)
and the low precision wins only when it is clearly faster. The decision is
cached per machine, and `config.json` records it with the measured times.
"""

import contextlib
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
from typing import Callable, Optional, Tuple

from absl import logging
import keras

from s2f_tf import files

# The low precision must take at most this share of float32's time: a few
# percent either way is noise between runs, and float32 is the safer default.
MARGIN = 0.9
LOW_POLICY = {"cpu": "mixed_bfloat16", "gpu": "mixed_float16"}
CACHE_VERSION = 1
PROBE_TIMEOUT_S = 300  # TensorFlow's import and a GPU's start-up included.


@dataclasses.dataclass(frozen=True)
class Decision:
  """What `--precision=auto` chose on a machine, and from what times."""

  policy: str
  machine: str
  float32_ms: float = 0.0
  low_ms: float = 0.0
  low_dtype: str = ""
  source: str = ""  # "measured <date>", or why nothing was measured.

  def note(self) -> str:
    """One line for the log and `config.json`."""
    if not self.low_dtype:
      return f"auto: {self.policy} ({self.source}) on {self.machine}"
    ratio = self.low_ms / self.float32_ms
    return (f"auto: {self.policy}; probe {self.float32_ms:.2f} ms in float32, "
            f"{self.low_ms:.2f} ms in {self.low_dtype} ({ratio:.2f}x; "
            f"{self.low_dtype} needs <= {MARGIN}x), {self.source}, on "
            f"{self.machine}")


def choose(device: str, float32_ms: float, low_ms: float) -> str:
  """The policy for probe times on `device` ("cpu" or "gpu"). Pure."""
  if low_ms <= MARGIN * float32_ms:
    return LOW_POLICY[device]
  return "float32"


# CPU flags that change which precision is faster. Cloud CPUs often report
# only "Intel(R) Xeon(R) Processor", so the model name alone cannot tell a
# Xeon with AMX from one without.
_KEY_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16")


def cpu_description(cpuinfo_path: str = "/proc/cpuinfo") -> str:
  """The first core's model name and its flags from _KEY_CPU_FLAGS."""
  model, flags = "", []
  try:
    with open(cpuinfo_path) as f:
      for line in f:
        if line.startswith("model name") and not model:
          model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
          present = set(line.split(":", 1)[1].split())
          flags = [f for f in _KEY_CPU_FLAGS if f in present]
          break
  except OSError:
    pass
  model = model or platform.processor() or platform.machine() or "a CPU"
  return f"{model} ({' '.join(flags) or 'no AVX2'})"


def _cores() -> int:
  """Cores this process may run on (a container's share, not the host's)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # Not on Linux.
    return os.cpu_count() or 1


def _device() -> Tuple[str, str]:
  """("tpu" | "gpu" | "cpu", a description of it for the cache key).

  Physical devices only: listing logical ones would start TensorFlow's
  runtime, after which a multi-worker strategy cannot be created.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.list_physical_devices("TPU"):
    return "tpu", "TPU"
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    names = sorted(tf.config.experimental.get_device_details(g).get(
        "device_name", "GPU") for g in gpus)
    return "gpu", " + ".join(names)
  return "cpu", "CPU"


def machine_key(device_name: str) -> str:
  """What a cached decision is valid for: CPU, cores, TF, device, and a
  oneDNN ISA limit if one is set (it changes which kernels run)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  key = f"{cpu_description()}, {_cores()} cores, TF {tf.__version__}"
  if os.environ.get("ONEDNN_MAX_CPU_ISA"):
    key += f", ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']}"
  return key if device_name == "CPU" else f"{key}, {device_name}"


def cache_path() -> str:
  """`$XDG_CACHE_HOME/s2f_tf/precision.json` (default `~/.cache`)."""
  return os.path.join(files.user_cache_dir(), "precision.json")


def _read_cache(path: str) -> dict:
  """machine key -> decision fields; {} when missing, and when unreadable
  or corrupt too (after one warning): a cache only saves a second."""
  try:
    with open(path) as f:
      cache = json.load(f)
    if cache.get("version") != CACHE_VERSION:
      raise ValueError(f"version {cache.get('version')!r}, not "
                       f"{CACHE_VERSION}")
    machines = cache["machines"]
    if not isinstance(machines, dict):
      raise ValueError("'machines' is not an object")
    return machines
  except (FileNotFoundError, NotADirectoryError):
    return {}  # Not yet written (or cannot be: `_write_cache` warns).
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    logging.warning("Ignoring the precision cache %s (%s); measuring again.",
                    path, files.reason(e))
    return {}


def _from_cache(entry, machine: str) -> Optional[Decision]:
  """The cached decision, or None (and one warning) if the entry is bad."""
  try:
    decision = Decision(
        policy=entry["policy"], machine=machine,
        float32_ms=float(entry["float32_ms"]), low_ms=float(entry["low_ms"]),
        low_dtype=str(entry["low_dtype"]),
        source=f"measured {entry['measured']}")
    if decision.policy not in ("float32", *LOW_POLICY.values()):
      raise ValueError(f"policy {decision.policy!r}")
    return decision
  except (KeyError, TypeError, ValueError) as e:
    logging.warning("Ignoring the precision cache's entry for %s (%s); "
                    "measuring again.", machine, files.reason(e))
    return None


def _write_cache(path: str, machines: dict) -> None:
  """Saves the cache; an unwritable one costs a warning, never the run."""
  try:
    files.write_atomically(path, json.dumps(
        {"version": CACHE_VERSION, "machines": machines}, indent=2,
        sort_keys=True))
  except (files.WriteError, OSError) as e:
    logging.warning("Could not save the precision choice (%s); the next run "
                    "measures again.", e)


def run_probe(device: str) -> dict:
  """The probe's times from its own process (see `s2f_tf.precision_probe`).

  Raises:
    RuntimeError: one line, when the probe fails or prints no result.
  """
  out = subprocess.run(
      [sys.executable, "-m", "s2f_tf.precision_probe", f"--device={device}"],
      capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
  lines = out.stdout.strip().splitlines()
  if out.returncode != 0 or not lines:
    tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"exit {out.returncode}: {tail}")
  return json.loads(lines[-1])


def decide(probe: Optional[Callable[[str], dict]] = None,
           device: Optional[Tuple[str, str]] = None,
           path: Optional[str] = None) -> Decision:
  """The `--precision=auto` decision for this machine, cached per machine.

  `probe(device)` returns {"float32_ms", "low_ms", "low_dtype"} (default:
  `run_probe`); tests pass their own times, and the machine's description
  through `device`. A cached decision reads exactly as the measured one did,
  so a replayed flagfile rebuilds an equal config.
  A TPU trains in bfloat16 unmeasured (its matrix units are bfloat16's).
  """
  kind, name = device or _device()
  machine = machine_key(name)
  if kind == "tpu":
    return Decision("mixed_bfloat16", machine, source="a TPU is attached")
  path = path or cache_path()
  machines = _read_cache(path)
  if machine in machines:
    cached = _from_cache(machines[machine], machine)
    if cached:
      return cached
  today = datetime.date.today().isoformat()
  try:
    times = (probe or run_probe)(kind)
    decision = Decision(
        choose(kind, float(times["float32_ms"]), float(times["low_ms"])),
        machine, float32_ms=round(float(times["float32_ms"]), 3),
        low_ms=round(float(times["low_ms"]), 3),
        low_dtype=str(times["low_dtype"]),
        source=f"measured {today}")
  except (RuntimeError, OSError, ValueError, KeyError, TypeError,
          subprocess.TimeoutExpired) as e:
    logging.warning("The precision probe failed (%s); training in float32.",
                    files.reason(e))
    return Decision("float32", machine, source="the probe failed")
  machines[machine] = {
      "policy": decision.policy, "float32_ms": decision.float32_ms,
      "low_ms": decision.low_ms, "low_dtype": decision.low_dtype,
      "measured": today}
  _write_cache(path, machines)
  return decision


def _decide_and_log() -> Decision:
  decision = decide()
  logging.info("--precision=%s", decision.note())
  return decision


def resolve(name: str) -> str:
  """`name` itself, or for "auto" the policy `decide` picks here (logged)."""
  return _decide_and_log().policy if name == "auto" else name


def resolve_config(config):
  """`config` with `train.precision` resolved and, for auto, the decision
  recorded in `train.precision_auto`; a concrete precision is kept as is."""
  if config.train.precision != "auto":
    return config
  decision = _decide_and_log()
  return dataclasses.replace(config, train=dataclasses.replace(
      config.train, precision=decision.policy,
      precision_auto=decision.note()))


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
