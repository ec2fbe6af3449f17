"""One D and one G step, on one device and mirrored over 2 logical CPUs.

Run by test_distribute.py and test_tasks_label2face.py in a subprocess:
logical devices can only be configured before TensorFlow initialises its
devices, which a pytest process has long done. Prints one JSON line: per
group of variables, the largest difference and the float32 rounding bound
it must stay under (step_comparison.py derives them).

  python tests/mirrored_step.py WORKDIR CONFIG_JSON BATCHES

CONFIG_JSON is the run's config.json, of any task; its strategy is set
here. BATCHES one-step comparisons are made (`step_comparison.compare`).
Tests call it through `step_comparison.run_mirrored_step`.
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

def _replica_copies(strategy, variables):
  """How many copies the variables have, and those whose copies differ."""
  copies, differ = set(), []
  for name, v in variables.items():
    local = [x.numpy() for x in strategy.experimental_local_results(v.value)]
    copies.add(len(local))
    if any(not np.array_equal(local[0], x) for x in local[1:]):
      differ.append(name)
  return sorted(copies), differ


def _config_maker(config_json: str):
  """strategy -> the config to run with it."""
  with open(config_json) as f:
    config = config_lib.Config.from_dict(json.load(f))
  return lambda strategy: dataclasses.replace(
      config, train=dataclasses.replace(config.train, strategy=strategy))


def main(workdir: str, config_json: str, batches: str) -> None:
  make = _config_maker(config_json)
  precision.make_optimizer = step_comparison.sgd  # Before train.setup.
  single = train.setup(make("default"), os.path.join(workdir, "single"))
  mirrored = train.setup(make("mirrored"), os.path.join(workdir, "mirrored"))

  global_batch = single.config.train.batch_size

  def distributed(batch):
    one_batch = tf.data.Dataset.from_tensor_slices(batch).batch(
        global_batch, drop_remainder=True)
    return next(iter(distribute.distribute_dataset(
        mirrored.strategy, one_batch, global_batch)))

  groups = step_comparison.compare(
      single, mirrored, iter(single.dataset),
      global_batch * single.config.data.image_size**2, distributed,
      int(batches))
  owners = {**step_comparison.models(mirrored),
            **step_comparison.optimizers(mirrored)}
  copies, differ = _replica_copies(mirrored.strategy,
                                   step_comparison.variables(owners))
  print(json.dumps({"replicas": mirrored.strategy.num_replicas_in_sync,
                    "copies": copies, "replicas_differ": differ,
                    "groups": groups}))


if __name__ == "__main__":
  main(*sys.argv[1:])
