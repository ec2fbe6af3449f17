"""s2f-data: write a synthetic face set, or draw sketches for a face set.

  s2f-data synth --out DIR --identities N --per_identity M --size S --seed X
  s2f-data synth --style=anime --out DIR ... --test_fraction F
  s2f-data sketch --root DIR --method xdog|canny|mask_edges|mask_edges+xdog

Deliberately thin: flags in, one library call, a one-line summary out.
"""

from absl import app
from absl import flags

from s2f_tf import flags as s2f_flags
from s2f_tf.cli import common
from s2f_tf.data import anime
from s2f_tf.data import sketch
from s2f_tf.data import synth

_COMMANDS = ("synth", "sketch")

s2f_flags.define_data_flags()
FLAGS = flags.FLAGS


def _synth_anime() -> None:
  summary = anime.write_unpaired_set(
      FLAGS.out, FLAGS.identities, FLAGS.per_identity, FLAGS.size, FLAGS.seed,
      FLAGS.test_fraction, FLAGS.workers)
  counts = ", ".join(f"{split} {n}" for split, n in summary["images"].items())
  print(f"Wrote an unpaired photo -> anime set of {summary['identities']} "
        f"people to {summary['root']} ({counts} images; hidden test truths "
        f"under hidden/) in {summary['seconds']:.1f} s")


def _data(args) -> int:
  if len(args) != 1 or args[0] not in _COMMANDS:
    raise app.UsageError(f"expected one command, {' or '.join(_COMMANDS)}; "
                         f"got {args}")
  if args[0] == "synth":
    if not FLAGS.out:
      raise app.UsageError("synth needs --out DIR")
    if FLAGS.style == "anime":
      _synth_anime()
      return 0
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
