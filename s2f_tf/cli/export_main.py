"""s2f-export: the trained generator as a SavedModel for TF Serving.

This file is intentionally kept short; the export and its checks live in
`s2f_tf.export`.

  s2f-export --workdir=runs/demo --export_dir=exports/s2f
Writes exports/s2f/1/ (the EMA generator when the checkpoint has one), after
checking that the reloaded SavedModel reproduces the Keras model.
"""

import sys

from absl import app
from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top

s2f_flags.define_workdir_flag()
flags.DEFINE_string("export_dir", None, "Model base folder for TF Serving; "
                    "the SavedModel goes into its --version subfolder.")
flags.DEFINE_integer("version", 1, "Version subfolder; must not exist yet.",
                     lower_bound=1)
flags.DEFINE_bool("ema", True, "Export the EMA generator if the checkpoint "
                  "has one; --noema exports the raw generator.")
flags.mark_flag_as_required("export_dir")
FLAGS = flags.FLAGS


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}; flags only")
  from s2f_tf import export  # pylint: disable=g-import-not-at-top
  try:
    config, generator, step = export.restore_serving_generator(
        FLAGS.workdir, FLAGS.ema)
    path = export.export(generator, config, FLAGS.export_dir, FLAGS.version)
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    print(f"s2f-export: {e}", file=sys.stderr)
    return 2
  except export.VerificationError as e:
    print(f"s2f-export: nothing exported, {e}", file=sys.stderr)
    return 3
  print(f"exported the generator of step {step} to {path}")
  return 0


def main():
  app.run(_main)


if __name__ == "__main__":
  main()
