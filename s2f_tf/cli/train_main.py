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
flags.DEFINE_string("restore_from", None,
                    "Resume from this checkpoint (or the newest readable one "
                    "in this folder) instead of the workdir's own, e.g. a "
                    "backup when every checkpoint in the workdir is damaged.")
FLAGS = flags.FLAGS


def _train() -> int:
  config = s2f_flags.config_from_flags()
  if FLAGS.dry_run:
    print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    return 0
  # pylint: disable=g-import-not-at-top
  from s2f_tf import distribute
  from s2f_tf import train
  from s2f_tf import workdir_lock
  # pylint: enable=g-import-not-at-top
  os.makedirs(FLAGS.workdir, exist_ok=True)
  # Before writing anything: a second trainer must not touch flags.cfg.
  with workdir_lock.hold(FLAGS.workdir, distribute.is_chief_process(
      config.train.strategy)):
    s2f_flags.write_flagfile(FLAGS.workdir)
    results = train.run(config, FLAGS.workdir, FLAGS.restore_from)
  print(json.dumps(results, indent=2, sort_keys=True, default=float))
  return 0


def main():
  # pylint: disable=g-import-not-at-top
  from s2f_tf import numerics
  from s2f_tf import preemption
  from s2f_tf import workdir_lock
  # pylint: enable=g-import-not-at-top
  common.main("s2f-train", _train, failures=(
      ((numerics.NumericsError, numerics.RetraceError), common.STOPPED,
       "\n{program} stopped: {error}"),
      ((preemption.Preempted,), common.PREEMPTED, "\n{program} {error}"),
      ((preemption.Interrupted,), common.INTERRUPTED, "\n{program} {error}"),
      ((KeyboardInterrupt,), common.INTERRUPTED,
       "\n{program} interrupted outside the training steps; rerun the "
       "same command to resume from the newest checkpoint."),
      ((workdir_lock.LockedError,), common.BUSY, "{program}: {error}"),
  ))


if __name__ == "__main__":
  main()
