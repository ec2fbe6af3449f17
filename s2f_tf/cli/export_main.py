"""s2f-export: the trained generator as a SavedModel for TF Serving.

This file is intentionally kept short; the export and its checks live in
`s2f_tf.export`.

  s2f-export --workdir=runs/demo --export_dir=exports/s2f
Writes exports/s2f/1/ (the EMA generator when the checkpoint has one), after
checking that the reloaded SavedModel reproduces the Keras model; a
pix2pixHD run's cluster centres (tools/cluster_features.py) go into its
assets/.

  s2f-export --workdir=runs/anime --export_dir=exports/anime \
      --tflite=float16,int8 --calibration_dir=photos/
also writes exports/anime/1_a2b_float16.tflite and 1_a2b_int8.tflite
(`--tflite_signature`), each compared with the SavedModel on the held-out
images (max abs error and PSNR printed, with its size and latency).
"""

import sys

from absl import flags

from s2f_tf.cli import common

common.quiet_tensorflow()

# pylint: disable=g-import-not-at-top
from s2f_tf import flags as s2f_flags
from s2f_tf.serving import quantization
# pylint: enable=g-import-not-at-top

s2f_flags.define_workdir_flag()
flags.DEFINE_string("export_dir", None, "Model base folder for TF Serving; "
                    "the SavedModel goes into its --version subfolder.")
flags.DEFINE_integer("version", 1, "Version subfolder; must not exist yet.",
                     lower_bound=1)
flags.DEFINE_bool("ema", True, "Export the EMA generator if the checkpoint "
                  "has one; --noema exports the raw generator.")
flags.DEFINE_list("tflite", [], "Also write TFLite models of "
                  "--tflite_signature: float16 (weights), int8 (weights and "
                  "activations, ranges from --calibration_dir).")
flags.DEFINE_string("tflite_signature", "a2b", "The image -> image "
                    "signature the TFLite models run (unpaired: a2b, b2a).")
flags.DEFINE_string("calibration_dir", "", "Images typical of the inputs, "
                    "for --tflite=int8 (the first 100 are read).")
flags.mark_flag_as_required("export_dir")
FLAGS = flags.FLAGS


def _export() -> int:
  # A bad --tflite is refused before TensorFlow loads (a fraction of a
  # second, not its start-up of about 4 s on 2 cores) and anything is
  # written.
  quantization.check_request(FLAGS.tflite, bool(FLAGS.calibration_dir))
  # pylint: disable=g-import-not-at-top
  from s2f_tf import clusters
  from s2f_tf import export
  # pylint: enable=g-import-not-at-top
  task, generator, step = export.restore_for_serving(FLAGS.workdir, FLAGS.ema)
  calibration = ()
  if FLAGS.tflite:  # Refuses a task without an image -> image function.
    task.image_to_image(generator, FLAGS.tflite_signature)
  if "int8" in FLAGS.tflite:  # A bad folder stops before anything is written.
    calibration = export.read_calibration_images(
        FLAGS.calibration_dir, task.config.data.image_size)
  path = export.export(task, generator, FLAGS.export_dir, FLAGS.version,
                       assets=clusters.export_assets(FLAGS.workdir))
  print(f"exported the generator of step {step} to {path}")
  for r in export.export_tflite(task, generator, path, FLAGS.tflite,
                                FLAGS.tflite_signature, calibration):
    print(f"wrote {r['path']}: {r['bytes'] / 1e6:.2f} MB, against the "
          f"SavedModel on {r['count']} held-out images max abs error "
          f"{r['max_abs']:.4f} and PSNR {r['psnr']:.1f} dB; "
          f"{r['latency_ms']:.1f} ms an image")
  return 0


def _failures():
  """The export's own failure, once `_export` has imported the module.

  Importing `s2f_tf.export` loads TensorFlow, which a refused flag must not
  wait for; before `_export` imports it, nothing can raise its errors.
  """
  export = sys.modules.get("s2f_tf.export")
  if export is None:
    return ()
  return (((export.VerificationError,), common.STOPPED,
           "{program}: nothing exported, {error}"),)


def main():
  common.main("s2f-export", _export, failures=_failures)


if __name__ == "__main__":
  main()
