"""s2f-project: a run's style codes and content features in TensorBoard.

  s2f-project --workdir=runs/demo [--split=heldout] [--max_points=1000]
      [--features=style,content]
  tensorboard --logdir runs/demo/projector

Intentionally short: all logic is in `s2f_tf.project.export_projector`.
Importing it loads TensorFlow (~3 s, even for --help); that keeps its
defaults the flags' defaults, with no copy to drift.
"""

from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

# pylint: disable=g-import-not-at-top
from s2f_tf import flags as s2f_flags
from s2f_tf import project
# pylint: enable=g-import-not-at-top

s2f_flags.define_workdir_flag()
flags.DEFINE_enum("split", "heldout", project.SPLITS,
                  "Photos of held-out people (never trained on), of training "
                  "people, or both.")
flags.DEFINE_integer("max_points", project.DEFAULT_MAX_POINTS,
                     "At most this many photos, the first by (identity, "
                     "image): whole identities, only the last one cut.")
flags.DEFINE_list("features", [],
                  "Embeddings to export (default: all the run's task has); "
                  "few-shot: style (one code per photo), content (the "
                  "sketch's spatial features, flattened).")
FLAGS = flags.FLAGS


def _project() -> int:
  exported = project.export_projector(FLAGS.workdir, FLAGS.split,
                                      FLAGS.max_points, FLAGS.features)
  for done in exported.values():
    print(f"{done.name}: {done.shape[0]} points x {done.shape[1]} values -> "
          f"{done.tensor_path}")
  print("Open the Projector tab (restart a running TensorBoard to see a "
        "re-export):")
  print(f"  tensorboard --logdir {project.projector_dir(FLAGS.workdir)}")
  return 0


def main():
  common.main("s2f-project", _project)


if __name__ == "__main__":
  main()
