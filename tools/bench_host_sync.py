r"""Steps/s with one fused finiteness flag per step vs every value per step.

  python tools/bench_host_sync.py --flagfile=flags/demo.cfg

The loop copies one scalar to the host per step (the fused finiteness flag)
and the measurements only at log steps. Before, it copied every measurement
and flag after every step. Both ways run here on the same compiled steps, in
interleaved rounds, so they share the machine's conditions; the table gives
the median steps/s of each over the rounds.
"""

import statistics
import tempfile
import time

from absl import app
from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

# pylint: disable=g-import-not-at-top
from s2f_tf import flags as s2f_flags
from s2f_tf import precision as precision_lib
from s2f_tf import train
# pylint: enable=g-import-not-at-top

s2f_flags.define_config_flags()
_STEPS = flags.DEFINE_integer("bench_steps", 30, "Timed steps per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 4, "Interleaved rounds per mode.")


def _fused(result):
  float(result.all_finite)  # The one host sync per step.


def _every_value(result):
  """What the loop fetched per step before: every tensor of the result."""
  for tensors in (result.measurements, result.finite_terms):
    for value in tensors.values():
      value.numpy()
  result.finite_grads.numpy()
  result.loss_scale.numpy()


def _steps_per_second(state, iterator, fetch, steps: int) -> float:
  start = time.perf_counter()
  for index in range(steps):
    for key in ("d", "g"):
      _, function = state.steps.step_for(key, index, phase=0)
      fetch(function(next(iterator)))
  return steps / (time.perf_counter() - start)


def main(argv):
  del argv
  config = s2f_flags.config_from_flags()
  modes = {"one fused flag per step (now)": _fused,
           "every value per step (before)": _every_value}
  rates = {name: [] for name in modes}
  with tempfile.TemporaryDirectory() as workdir, \
      precision_lib.precision_policy(config.train.precision):
    state = train.setup(config, workdir)
    iterator = iter(state.dataset)
    for fetch in modes.values():  # Warm-up: traces every step function.
      _steps_per_second(state, iterator, fetch, 3)
    for _ in range(_ROUNDS.value):
      for name, fetch in modes.items():
        rates[name].append(_steps_per_second(state, iterator, fetch,
                                             _STEPS.value))
  print(f"\n{config.data.image_size} px, batch {config.train.batch_size}, "
        f"{config.train.precision}; median of {_ROUNDS.value} interleaved "
        f"rounds of {_STEPS.value} steps (one D and one G step each)\n")
  print("| host copies | steps/s | rounds |")
  print("|---|---:|---|")
  for name, values in rates.items():
    print(f"| {name} | {statistics.median(values):.2f} | "
          f"{', '.join(f'{v:.2f}' for v in values)} |")


if __name__ == "__main__":
  app.run(main)
