"""s2f-train: trains a few-shot sketch-to-face GAN.

This file is intentionally kept short: it defines flags, builds the config and
calls `train.run(config, workdir)`, where all the logic lives and is tested.

  s2f-train --flagfile=flags/demo.cfg --workdir=runs/demo
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging

from s2f_tf.cli import common

common.quiet_tensorflow()

from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top

s2f_flags.define_config_flags()
s2f_flags.define_workdir_flag()
flags.DEFINE_bool("dry_run", False,
                  "Print the resolved config and exit without building.")
FLAGS = flags.FLAGS


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}; flags only")
  try:
    config = s2f_flags.config_from_flags()
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  if FLAGS.dry_run:
    print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    return 0
  from s2f_tf import numerics  # pylint: disable=g-import-not-at-top
  from s2f_tf import train  # pylint: disable=g-import-not-at-top
  os.makedirs(FLAGS.workdir, exist_ok=True)
  s2f_flags.write_flagfile(FLAGS.workdir)
  try:
    results = train.run(config, FLAGS.workdir)
  except (numerics.NumericsError, numerics.RetraceError) as e:
    logging.error("%s", e)
    print(f"\ns2f-train stopped: {e}", file=sys.stderr)
    return 3
  except (FileNotFoundError, ValueError) as e:
    print(f"s2f-train: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("\ns2f-train interrupted; checkpoint saved, rerun the same command "
          "to resume.", file=sys.stderr)
    return 130
  print(json.dumps(results, indent=2, sort_keys=True, default=float))
  return 0


def main():
  app.run(_main)


if __name__ == "__main__":
  main()
