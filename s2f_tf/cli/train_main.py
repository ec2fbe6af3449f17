"""s2f-train: trains a model of any registered task on the shared loop.

This file is intentionally kept short: it defines flags, builds the config and
calls `train.run(config, workdir)`, where all the logic lives and is tested.

  s2f-train --flagfile=flags/demo.cfg --workdir=runs/demo
"""

import json
import os

from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top

s2f_flags.define_config_flags()
s2f_flags.define_workdir_flag()
flags.DEFINE_bool("dry_run", False,
                  "Print the resolved config and exit without building.")
FLAGS = flags.FLAGS


def _train() -> int:
  config = s2f_flags.config_from_flags()
  if FLAGS.dry_run:
    print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    return 0
  from s2f_tf import train  # pylint: disable=g-import-not-at-top
  os.makedirs(FLAGS.workdir, exist_ok=True)
  s2f_flags.write_flagfile(FLAGS.workdir)
  results = train.run(config, FLAGS.workdir)
  print(json.dumps(results, indent=2, sort_keys=True, default=float))
  return 0


def main():
  from s2f_tf import numerics  # pylint: disable=g-import-not-at-top
  common.main("s2f-train", _train, failures=(
      ((numerics.NumericsError, numerics.RetraceError), common.STOPPED,
       "\n{program} stopped: {error}"),
      ((KeyboardInterrupt,), common.INTERRUPTED,
       "\n{program} interrupted; checkpoint saved, rerun the same command "
       "to resume."),
  ))


if __name__ == "__main__":
  main()
