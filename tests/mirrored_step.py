"""One D and one G step, on one device and mirrored over 2 logical CPUs.

Run by test_distribute.py in a subprocess: logical devices can only be
configured before TensorFlow initialises its devices, which a pytest process
has long done. Prints one JSON line of differences for the test to judge.

  python tests/mirrored_step.py DATA_ROOT WORKDIR [CONFIG_JSON [SKIP]]

CONFIG_JSON, a config.json of another task, replaces the tiny few-shot
config (its strategy is set here). Variables whose name contains SKIP are
left out of the comparison: the gradient of a noise scale is its
correlation with fresh random noise, which no two runs share.
"""

import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)

from s2f_tf import config as config_lib  # pylint: disable=g-import-not-at-top
from s2f_tf import distribute  # pylint: disable=g-import-not-at-top
from s2f_tf import train  # pylint: disable=g-import-not-at-top

GLOBAL_BATCH = 8


def _models(state):
  return {"generator": state.generator, "discriminator": state.discriminator,
          "ema_generator": state.ema_generator}


def _optimizers(state):
  return {"g_opt": state.g_opt, "d_opt": state.d_opt}


def _variables(owners):
  return {f"{name}/{v.path}": v for name, owner in owners.items()
          for v in owner.variables}


def _group(name: str) -> str:
  """A model's name, an optimizer's name and slot ("g_opt:velocity"), or a
  model's spectral-norm vectors ("discriminator:u")."""
  owner = name.split("/")[0]
  if owner in ("g_opt", "d_opt"):
    return f"{owner}:{name.rsplit('_', 1)[-1]}"
  if name.endswith("/u"):
    # Unit vectors moved by a power iteration, not by Adam: the replicas'
    # reduction order changes them by float32 rounding, relative to 1.
    return f"{owner}:u"
  return owner


def _step(state, batch):
  """The lazy-R1 D step (adversarial loss + R1) and the G step (+ EMA), or
  the shared step when the config has --shared_generator_pass."""
  if state.steps.shared_step is not None:
    state.steps.shared_step(batch)
    return
  state.steps.d_step_reg(batch)
  state.steps.g_step(batch)


def _differences(single, mirrored, skip=""):
  """The largest difference and the largest value in each group."""
  groups = {}
  for owners in (_models, _optimizers):
    expected = _variables(owners(single))
    for name, v in _variables(owners(mirrored)).items():
      if skip and skip in name:
        continue
      a, b = expected[name].numpy(), v.numpy()
      group = groups.setdefault(_group(name), {"diff": 0.0, "scale": 0.0})
      diff = float(np.abs(a - b).max())
      if diff >= group["diff"]:  # Named, so a failure says where.
        group["diff"], group["worst"] = diff, name
      group["scale"] = max(group["scale"], float(np.abs(a).max()))
  return groups


def _replica_copies(strategy, variables):
  """How many copies the variables have, and those whose copies differ."""
  copies, differ = set(), []
  for name, v in variables.items():
    local = [x.numpy() for x in strategy.experimental_local_results(v.value)]
    copies.add(len(local))
    if any(not np.array_equal(local[0], x) for x in local[1:]):
      differ.append(name)
  return sorted(copies), differ


def _config_maker(data_root: str, config_json: str):
  """strategy -> the config to run with it."""
  if not config_json:
    return lambda strategy: config_lib.tiny_config(
        root=data_root, batch_size=GLOBAL_BATCH, r1_gamma=1.0, r1_interval=4,
        strategy=strategy)
  with open(config_json) as f:
    config = config_lib.Config.from_dict(json.load(f))
  return lambda strategy: dataclasses.replace(
      config, train=dataclasses.replace(config.train, strategy=strategy))


def main(data_root: str, workdir: str, config_json: str = "",
         skip: str = "") -> None:
  make = _config_maker(data_root, config_json)
  single = train.setup(make("default"), os.path.join(workdir, "single"))
  mirrored = train.setup(make("mirrored"), os.path.join(workdir, "mirrored"))
  # Same starting point: the comparison is of one step, not of seeding.
  before = _variables(_models(single))
  for name, v in _variables(_models(mirrored)).items():
    v.assign(before[name])

  batch = next(iter(single.dataset))  # One global batch, used by both.
  _step(single, batch)
  one_batch = tf.data.Dataset.from_tensor_slices(batch).batch(
      GLOBAL_BATCH, drop_remainder=True)
  _step(mirrored, next(iter(distribute.distribute_dataset(
      mirrored.strategy, one_batch, GLOBAL_BATCH))))

  copies, differ = _replica_copies(
      mirrored.strategy, _variables({**_models(mirrored),
                                     **_optimizers(mirrored)}))
  print(json.dumps({"replicas": mirrored.strategy.num_replicas_in_sync,
                    "copies": copies, "replicas_differ": differ,
                    "groups": _differences(single, mirrored, skip)}))


if __name__ == "__main__":
  main(*sys.argv[1:])
