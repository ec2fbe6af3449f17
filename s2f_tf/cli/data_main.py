"""s2f-data: write the synthetic face set, or draw sketches for a face set.

  s2f-data synth --out DIR --identities N --per_identity M --size S --seed X
  s2f-data sketch --root DIR --method xdog|canny|mask_edges|mask_edges+xdog

Deliberately thin: flags in, one library call, a one-line summary out.
"""

from absl import app
from absl import flags

from s2f_tf import config
from s2f_tf.data import sketch
from s2f_tf.data import synth

_COMMANDS = ("synth", "sketch")

_OUT = flags.DEFINE_string("out", None, "synth: directory to create.")
_IDENTITIES = flags.DEFINE_integer("identities", 200, "synth: people.",
                                   lower_bound=1)
_PER_IDENTITY = flags.DEFINE_integer("per_identity", 12,
                                     "synth: photos per person.",
                                     lower_bound=1)
_SIZE = flags.DEFINE_integer("size", 128, "synth: image size in pixels.",
                             lower_bound=16)
_SEED = flags.DEFINE_integer("seed", 0, "synth: seed; same seed, same files.")
_ROOT = flags.DEFINE_string("root", None, "sketch: face set to draw.")
_METHOD = flags.DEFINE_enum("method", "xdog", config.SKETCH_METHODS,
                            "Sketch extractor (synth writes its sketches "
                            "with it too).")
_WORKERS = flags.DEFINE_integer("workers", 2, "Threads for drawing and "
                                "encoding.", lower_bound=1)


def _run(argv) -> None:
  if len(argv) != 2 or argv[1] not in _COMMANDS:
    raise app.UsageError(f"expected one command, {' or '.join(_COMMANDS)}; "
                         f"got {argv[1:]}")
  try:
    if argv[1] == "synth":
      if not _OUT.value:
        raise app.UsageError("synth needs --out DIR")
      summary = synth.write_synthetic_faces(
          _OUT.value, _IDENTITIES.value, _PER_IDENTITY.value, _SIZE.value,
          _SEED.value, _METHOD.value, _WORKERS.value)
      print(f"Wrote {summary['images']} faces of {summary['identities']} "
            f"identities to {summary['root']} in {summary['seconds']:.1f} s")
    else:
      if not _ROOT.value:
        raise app.UsageError("sketch needs --root DIR")
      count = sketch.write_sketches(_ROOT.value, _METHOD.value,
                                    _WORKERS.value)
      print(f"Wrote {count} {_METHOD.value} sketches under {_ROOT.value}")
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    raise app.UsageError(str(e)) from None


def main() -> None:
  app.run(_run)


if __name__ == "__main__":
  main()
