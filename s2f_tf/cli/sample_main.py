"""s2f-sample: one face from a sketch or a label map, and photos of the person.

This file is intentionally kept short; which files a model reads and how is
its task's (`Task.serving_inputs`), running it `s2f_tf.sample`.

  s2f-sample --export_dir=exports/s2f/1 --sketch=s.png --refs=a.jpg,b.jpg \
      --out=face.png
  s2f-sample --workdir=runs/demo --sketch_from=photo.jpg --refs=a.jpg \
      --out=face.png
  s2f-sample --export_dir=exports/l2f/1 --labels=mask.png \
      --refs=a.jpg,b.jpg --ref_labels=a.png,b.png --out=face.png
  s2f-sample --export_dir=exports/p2p/1 --labels=mask.png --clusters=hair:3 \
      --out=face.png
  s2f-sample --workdir=runs/photo2anime --direction=a2b \
      --image=photo.jpg --out=anime.png

Photos and drawings of any size are centre-cropped to a square and resized
to the model's size. A label map is a gray PNG of CelebAMask-HQ class ids; a
square one of any size is resized nearest-neighbour. A model that reads
reference photos under their own maps takes `--ref_labels`, one per
`--refs`, in the same order. `--signature` runs another of the model's
signatures (`--direction=a2b|b2a`, for two-direction models, names the
signature of that direction); `--out_aux_dir` receives its other image
outputs (an attention map, say). The files are checked against the
model's config before it is loaded.
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
flags.DEFINE_string("labels", None, "For label-map models: the face's "
                    "CelebAMask-HQ parsing map, a gray PNG of class ids.")
flags.DEFINE_list("refs", None, "Comma-separated photos of the person.")
flags.DEFINE_string("image", None, "For image-to-image models: the image "
                    "to translate.")
flags.DEFINE_list("ref_labels", None, "The parsing map of each --refs photo, "
                  "in the same order, for models that read references under "
                  "their maps.")
flags.DEFINE_multi_string(
    "input", None, "NAME=PATH[,PATH...]: a file for an input the model's "
    "task reads under a name of its own, not one of the flags above "
    "(repeat for several), e.g. --input=a=photo.png.")
flags.DEFINE_string("out", None, "Where to write the face (PNG).")
flags.DEFINE_string("signature", "serving_default", "Which of the model's "
                    "signatures to run.")
flags.DEFINE_string("direction", None, "For two-direction models: a2b or "
                    "b2a, the signature of that direction; --signature "
                    "chooses among the others (a2b_attention, say).")
flags.DEFINE_string("out_aux_dir", None, "Folder for the signature's other "
                    "image outputs, one <output>.png each.")
flags.DEFINE_string(
    "clusters", None, "For a model with clustered region features "
    "(--label_feat, then tools/cluster_features.py on its run; an export "
    "carries them): CLASS:INDEX,... (e.g. hair:3,skin:7), each class's "
    "features from that k-means centre instead of reference photos (others: "
    "cluster 0, the most common look); needs --labels.")
flags.mark_flags_as_mutual_exclusive(["export_dir", "workdir"], required=True)
flags.mark_flags_as_required(["out"])
flags.register_validator("out", lambda path: path.lower().endswith(".png"),
                         "--out must name a .png file")
FLAGS = flags.FLAGS

# The flags that name input files; the model's task says which it reads.
FILE_FLAGS = ("sketch", "sketch_from", "labels", "refs", "ref_labels",
              "image")


def _files():
  """{flag or --input name: its file(s)}: what the task checks and reads."""
  files = {name: FLAGS[name].value for name in FILE_FLAGS}
  for entry in FLAGS.input or ():
    name, _, paths = entry.partition("=")
    if not name or not paths:
      raise ValueError(f"--input={entry!r} must be NAME=PATH[,PATH...]")
    if name in files:
      raise ValueError(f"--input={entry!r}: {name} is given twice (or is "
                       f"--{name}'s; pass --{name}={paths})")
    files[name] = paths.split(",") if "," in paths else paths
  return files


def _signature() -> str:
  """--signature, or --direction's signature (not both, unless equal)."""
  direction = FLAGS.direction
  if direction is None:
    return FLAGS.signature
  if FLAGS["signature"].present and FLAGS.signature != direction:
    raise ValueError(f"--direction={direction} runs signature {direction}; "
                     f"drop --signature={FLAGS.signature} or --direction")
  return direction


def _sample() -> int:
  # Bad flags are refused before TensorFlow loads: in a fraction of a
  # second, not after its start-up (about 4 s on 2 cores).
  files, signature = _files(), _signature()
  if FLAGS.clusters is not None:
    return _sample_clusters(files)
  from s2f_tf import sample  # pylint: disable=g-import-not-at-top
  written = sample.sample(
      files, FLAGS.out,
      export_dir=FLAGS.export_dir or "", workdir=FLAGS.workdir or "",
      signature=signature, out_aux_dir=FLAGS.out_aux_dir or "")
  for path in written:
    print(f"wrote {path}")
  return 0


def _sample_clusters(files) -> int:
  """--clusters: the model's face of --labels with clustered region styles,
  from --export_dir (the centres it carries) or --workdir."""
  others = sorted(name for name, value in files.items()
                  if value and name != "labels")
  if not files["labels"] or others:
    raise ValueError("--clusters draws from --labels alone; "
                     + (f"drop --{', --'.join(others)}" if others
                        else "pass --labels=mask.png"))
  from s2f_tf import clusters  # pylint: disable=g-import-not-at-top
  written = clusters.draw_file(files["labels"], FLAGS.clusters, FLAGS.out,
                               export_dir=FLAGS.export_dir or "",
                               workdir=FLAGS.workdir or "")
  print(f"wrote {written}")
  return 0


def main():
  common.main("s2f-sample", _sample)


if __name__ == "__main__":
  main()
