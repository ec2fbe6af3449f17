"""s2f-sample: one face from a sketch and a few photos of the person.

This file is intentionally kept short; reading the images is
`s2f_tf.images`, running the model `s2f_tf.export`.

  s2f-sample --export_dir=exports/s2f/1 --sketch=s.png --refs=a.jpg,b.jpg \
      --out=face.png
  s2f-sample --workdir=runs/demo --sketch_from=photo.jpg --refs=a.jpg \
      --out=face.png
Images of any size are centre-cropped to a square and resized to the model's.
"""

from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top

s2f_flags.define_workdir_flag(required=False)
flags.DEFINE_string("export_dir", None, "SavedModel version folder written "
                    "by s2f-export, e.g. exports/s2f/1.")
flags.DEFINE_string("sketch", None, "The drawing: dark lines on white or on "
                    "a transparent background.")
flags.DEFINE_string("sketch_from", None, "A photo to draw the sketch from "
                    "with the model's own sketch extractor.")
flags.DEFINE_list("refs", None, "Comma-separated photos of the person.")
flags.DEFINE_string("out", None, "Where to write the face (PNG).")
flags.mark_flags_as_mutual_exclusive(["export_dir", "workdir"], required=True)
flags.mark_flags_as_mutual_exclusive(["sketch", "sketch_from"], required=True)
flags.mark_flags_as_required(["refs", "out"])
flags.register_validator("out", lambda path: path.lower().endswith(".png"),
                         "--out must name a .png file")
FLAGS = flags.FLAGS


def _sample() -> int:
  from s2f_tf import export  # pylint: disable=g-import-not-at-top
  from s2f_tf import images  # pylint: disable=g-import-not-at-top
  from s2f_tf.data import decode  # pylint: disable=g-import-not-at-top
  config, generate = export.load_image_fn(FLAGS.export_dir or "",
                                          FLAGS.workdir or "")
  sketch, refs = images.load_inputs(
      config.data.image_size, FLAGS.refs, FLAGS.sketch or "",
      FLAGS.sketch_from or "", config.data.sketch_method)
  decode.write_png(FLAGS.out, generate(sketch, refs)[0])
  print(f"wrote {FLAGS.out}")
  return 0


def main():
  common.main("s2f-sample", _sample)


if __name__ == "__main__":
  main()
