"""One D and one G step, on one device and mirrored over 2 logical CPUs.

Run by test_distribute.py and test_tasks_label2face.py in a subprocess:
logical devices can only be configured before TensorFlow initialises its
devices, which a pytest process has long done. Prints one JSON line: per
group of variables, the largest difference and the float32 rounding bound
it must stay under (step_comparison.py derives them).

  python tests/mirrored_step.py DATA_ROOT WORKDIR [CONFIG_JSON]

CONFIG_JSON, a config.json of another task, replaces the tiny few-shot
config (its strategy is set here).
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

import step_comparison  # pylint: disable=g-import-not-at-top
from s2f_tf import config as config_lib  # pylint: disable=g-import-not-at-top
from s2f_tf import distribute  # pylint: disable=g-import-not-at-top
from s2f_tf import precision  # pylint: disable=g-import-not-at-top
from s2f_tf import train  # pylint: disable=g-import-not-at-top

GLOBAL_BATCH = 8


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


def main(data_root: str, workdir: str, config_json: str = "") -> None:
  make = _config_maker(data_root, config_json)
  precision.make_optimizer = step_comparison.sgd  # Before train.setup.
  single = train.setup(make("default"), os.path.join(workdir, "single"))
  mirrored = train.setup(make("mirrored"), os.path.join(workdir, "mirrored"))

  def distributed(batch):
    one_batch = tf.data.Dataset.from_tensor_slices(batch).batch(
        GLOBAL_BATCH, drop_remainder=True)
    return next(iter(distribute.distribute_dataset(
        mirrored.strategy, one_batch, GLOBAL_BATCH)))

  groups = step_comparison.compare(
      single, mirrored, iter(single.dataset),
      GLOBAL_BATCH * single.config.data.image_size**2, distributed)
  owners = {**step_comparison.models(mirrored),
            **step_comparison.optimizers(mirrored)}
  copies, differ = _replica_copies(mirrored.strategy,
                                   step_comparison.variables(owners))
  print(json.dumps({"replicas": mirrored.strategy.num_replicas_in_sync,
                    "copies": copies, "replicas_differ": differ,
                    "groups": groups}))


if __name__ == "__main__":
  main(*sys.argv[1:])
