"""s2f-data: write the synthetic face set, or draw sketches for a face set.

  s2f-data synth --out DIR --identities N --per_identity M --size S --seed X
  s2f-data sketch --root DIR --method xdog|canny|mask_edges|mask_edges+xdog

Deliberately thin: flags in, one library call, a one-line summary out.
"""

from absl import app
from absl import flags

from s2f_tf import flags as s2f_flags
from s2f_tf.cli import common
from s2f_tf.data import sketch
from s2f_tf.data import synth

_COMMANDS = ("synth", "sketch")

s2f_flags.define_data_flags()
FLAGS = flags.FLAGS


def _data(args) -> int:
  if len(args) != 1 or args[0] not in _COMMANDS:
    raise app.UsageError(f"expected one command, {' or '.join(_COMMANDS)}; "
                         f"got {args}")
  if args[0] == "synth":
    if not FLAGS.out:
      raise app.UsageError("synth needs --out DIR")
    summary = synth.write_synthetic_faces(
        FLAGS.out, FLAGS.identities, FLAGS.per_identity, FLAGS.size,
        FLAGS.seed, FLAGS.method, FLAGS.workers)
    print(f"Wrote {summary['images']} faces of {summary['identities']} "
          f"identities to {summary['root']} in {summary['seconds']:.1f} s")
  else:
    if not FLAGS.root:
      raise app.UsageError("sketch needs --root DIR")
    count = sketch.write_sketches(FLAGS.root, FLAGS.method, FLAGS.workers)
    print(f"Wrote {count} {FLAGS.method} sketches under {FLAGS.root}")
  return 0


def main() -> None:
  common.main("s2f-data", _data, positional=True)


if __name__ == "__main__":
  main()
