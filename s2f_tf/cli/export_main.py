"""s2f-export: the trained generator as a SavedModel for TF Serving.

This file is intentionally kept short; the export and its checks live in
`s2f_tf.export`.

  s2f-export --workdir=runs/demo --export_dir=exports/s2f
Writes exports/s2f/1/ (the EMA generator when the checkpoint has one), after
checking that the reloaded SavedModel reproduces the Keras model.
"""

from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

# pylint: disable=g-import-not-at-top
from s2f_tf import export
from s2f_tf import flags as s2f_flags
# pylint: enable=g-import-not-at-top

s2f_flags.define_workdir_flag()
flags.DEFINE_string("export_dir", None, "Model base folder for TF Serving; "
                    "the SavedModel goes into its --version subfolder.")
flags.DEFINE_integer("version", 1, "Version subfolder; must not exist yet.",
                     lower_bound=1)
flags.DEFINE_bool("ema", True, "Export the EMA generator if the checkpoint "
                  "has one; --noema exports the raw generator.")
flags.mark_flag_as_required("export_dir")
FLAGS = flags.FLAGS


def _export() -> int:
  task, generator, step = export.restore_for_serving(FLAGS.workdir, FLAGS.ema)
  path = export.export(task, generator, FLAGS.export_dir, FLAGS.version)
  print(f"exported the generator of step {step} to {path}")
  return 0


def main():
  common.main("s2f-export", _export, failures=(
      ((export.VerificationError,), common.STOPPED,
       "{program}: nothing exported, {error}"),))


if __name__ == "__main__":
  main()
