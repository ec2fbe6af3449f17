"""s2f-sample: one face from a sketch or a label map, and photos of the person.

This file is intentionally kept short; reading the images is
`s2f_tf.images`, running the model `s2f_tf.export`.

  s2f-sample --export_dir=exports/s2f/1 --sketch=s.png --refs=a.jpg,b.jpg \
      --out=face.png
  s2f-sample --workdir=runs/demo --sketch_from=photo.jpg --refs=a.jpg \
      --out=face.png
  s2f-sample --export_dir=exports/l2f/1 --labels=mask.png \
      --refs=a.jpg,b.jpg --ref_labels=a.png,b.png --out=face.png

Photos and drawings of any size are centre-cropped to a square and resized
to the model's size. A label map (`--task=label2face` models) is a gray PNG
of CelebAMask-HQ class ids; a square one of any size is resized
nearest-neighbour. sean and --use_vae models also read reference photos,
each with its own map (`--ref_labels`, same order as `--refs`, any number).
The flags are checked against the model's config before it is loaded.
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
flags.DEFINE_string("labels", None, "For label2face models: the face's "
                    "CelebAMask-HQ parsing map, a gray PNG of class ids.")
flags.DEFINE_list("refs", None, "Comma-separated photos of the person.")
flags.DEFINE_list("ref_labels", None, "For sean and --use_vae models: the "
                  "parsing map of each --refs photo, in the same order.")
flags.DEFINE_string("out", None, "Where to write the face (PNG).")
flags.mark_flags_as_mutual_exclusive(["export_dir", "workdir"], required=True)
flags.mark_flags_as_mutual_exclusive(["sketch", "sketch_from", "labels"],
                                     required=True)
flags.mark_flags_as_required(["out"])
flags.register_validator("out", lambda path: path.lower().endswith(".png"),
                         "--out must name a .png file")
FLAGS = flags.FLAGS


def _sketch_feeds(config):
  """sketch2face: the sketch (--sketch or --sketch_from) and --refs."""
  from s2f_tf import images  # pylint: disable=g-import-not-at-top
  if FLAGS.labels or FLAGS.ref_labels:
    raise ValueError("this model draws a face from a sketch (--task="
                     "sketch2face): pass --sketch or --sketch_from with "
                     "--refs, not --labels or --ref_labels")
  if not FLAGS.refs:
    raise ValueError("this model draws the person of its reference photos: "
                     "pass --refs=a.jpg,b.jpg")
  return images.load_sketch_inputs(
      config.data.image_size, FLAGS.refs, FLAGS.sketch or "",
      FLAGS.sketch_from or "", config.data.sketch_method)


def _label_feeds(config):
  """label2face: --labels, plus --refs and --ref_labels if the model reads
  references."""
  # pylint: disable=g-import-not-at-top
  from s2f_tf import images
  from s2f_tf.serving import label2face as label2face_serving
  # pylint: enable=g-import-not-at-top
  model = config.model
  mode = f"--norm_mode={model.norm_mode}" + (" --use_vae" if model.use_vae
                                              else "")
  if FLAGS.sketch or FLAGS.sketch_from:
    raise ValueError("this model draws a face from a label map (--task="
                     "label2face): pass --labels=mask.png, not --sketch or "
                     "--sketch_from")
  if not label2face_serving.takes_references(model):
    if FLAGS.refs or FLAGS.ref_labels:
      raise ValueError(f"this model ({mode}) reads no reference photos; "
                       "drop --refs and --ref_labels")
  elif not FLAGS.refs:
    raise ValueError(f"this model ({mode}) takes the look of reference "
                     "photos: pass --refs=a.jpg,b.jpg with their maps "
                     "--ref_labels=a.png,b.png")
  elif not FLAGS.ref_labels:
    why = ("sean reads each reference under its own mask"
           if model.norm_mode == "sean" else
           f"the {mode} signature takes each reference with its mask")
    raise ValueError(f"{why}: pass --ref_labels with one map per --refs")
  return images.load_label_inputs(
      config.data.image_size, model.label_nc, FLAGS.labels, FLAGS.refs or (),
      FLAGS.ref_labels or ())


# The inputs of each task's serving_default, from the flags.
_FEEDS = {"sketch2face": _sketch_feeds, "label2face": _label_feeds}


def _sample() -> int:
  # pylint: disable=g-import-not-at-top
  from s2f_tf import export
  from s2f_tf.data import decode
  # pylint: enable=g-import-not-at-top
  source = dict(export_dir=FLAGS.export_dir or "", workdir=FLAGS.workdir or "")
  config = export.serving_config(**source)
  if config.model.task not in _FEEDS:
    raise ValueError("s2f-sample draws a face from a sketch or a label map; "
                     f"this model is --task={config.model.task}")
  # Flags and files are checked before the (slower) model load.
  feeds = _FEEDS[config.model.task](config)
  _, generate = export.load_image_fn(**source)
  decode.write_png(FLAGS.out, generate(feeds)[0])
  print(f"wrote {FLAGS.out}")
  return 0


def main():
  common.main("s2f-sample", _sample)


if __name__ == "__main__":
  main()
