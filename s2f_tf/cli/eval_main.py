"""s2f-eval: few-shot metrics of a trained run on held-out identities.

  s2f-eval --workdir=runs/demo
Writes workdir/eval.json and TensorBoard scalars under workdir/eval.
"""

import json
import sys

from absl import app
from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top

s2f_flags.define_workdir_flag()
flags.DEFINE_integer("max_episodes", None,
                     "Held-out episodes to score (default: from config).")
FLAGS = flags.FLAGS


def _main(argv):
  del argv
  from s2f_tf import train  # pylint: disable=g-import-not-at-top
  try:
    results = train.evaluate_workdir(FLAGS.workdir, FLAGS.max_episodes)
  except (FileNotFoundError, ValueError) as e:
    print(f"s2f-eval: {e}", file=sys.stderr)
    return 2
  print(json.dumps(results, indent=2, sort_keys=True))
  return 0


def main():
  app.run(_main)


if __name__ == "__main__":
  main()
