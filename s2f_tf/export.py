"""SavedModel export of a run's generator for TF Serving, and loading it back.

`export` writes `export_dir/<version>/`, the layout TF Serving polls, with the
signatures of the run's task (`Task.export_module`; the few-shot ones are in
`s2f_tf.serving.few_shot`, see docs/serving.md). The export is written beside
its final folder, reloaded twice (`tf.saved_model.load` and a TF1 session, the
way TF Serving's C++ loader runs it) and compared with the in-process Keras
model on the module's own examples, and only then renamed into place, so a
server watching `export_dir` never sees an unverified version.

`load_image_fn` runs any of a model's signatures on numpy inputs, from an
export or straight from a run's checkpoint (what `s2f-sample` calls).
"""

import functools
import os
import shutil
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import files
from s2f_tf import pixels
from s2f_tf import precision as precision_lib
from s2f_tf import tasks
from s2f_tf.data import decode
from s2f_tf.serving import signatures as sig
from s2f_tf.serving import tflite
from s2f_tf.tasks import base

# TF and TF Serving leave assets.extra/ alone; the sampler reads the config.
EXTRA_DIR = "assets.extra"


class VerificationError(RuntimeError):
  """The reloaded SavedModel does not compute what the Keras model computes."""


def export(task: base.Task, generator: keras.Model, export_dir: str,
           version: int = 1, assets: Sequence[str] = ()) -> str:
  """Writes, verifies and publishes `export_dir/<version>`; returns its path.

  `assets` are files the model carries (e.g. pix2pixHD's cluster centres):
  saved as `tf.saved_model.Asset`s, each lands in the SavedModel's
  `assets/` folder under its own name (`asset_path`), which TF Serving
  copies along with the model.

  Raises:
    files.WriteError: a write failed (e.g. a full disk); nothing is left in
      `export_dir`.
    FileExistsError: that version exists (TF Serving never reloads a version
      in place, so a new model needs a new number).
    ValueError: a generator its task cannot serve (e.g. mixed precision, or
      the few-shot "random" style debugging mode, whose output no test can
      reproduce).
    VerificationError: the reloaded model disagrees with `generator`; nothing
      is left in `export_dir`.
  """
  module = task.export_module(generator)  # Refuses what it cannot serve.
  names = [os.path.basename(path) for path in assets]
  if len(set(names)) < len(names):
    raise ValueError(f"export assets need distinct names, got {names}")
  module.assets = [tf.saved_model.Asset(path) for path in assets]
  final = os.path.join(export_dir, str(version))
  if os.path.exists(final):
    raise FileExistsError(f"{final} exists; pass another version number or "
                          "delete it")
  with files.writing(final):
    os.makedirs(export_dir, exist_ok=True)
    # A dot-name is not a version number, so TF Serving ignores it until the
    # rename, which is atomic on one file system.
    scratch = tempfile.mkdtemp(prefix=f".{version}-", dir=export_dir)
  try:
    with files.writing(final, checkpointing.WRITE_ERRORS):
      tf.saved_model.save(module, scratch, signatures=module.signatures())
      os.makedirs(os.path.join(scratch, EXTRA_DIR))
      config_lib.save_config(task.config, os.path.join(scratch, EXTRA_DIR))
    verify(scratch, module)
    with files.writing(final):
      os.rename(scratch, final)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  return final


def asset_path(saved_model: str, name: str) -> str:
  """Where `export(..., assets=[".../name"])` put that file."""
  return os.path.join(saved_model, "assets", name)


def read_calibration_images(calibration_dir: str, image_size: int
                            ) -> np.ndarray:
  """Up to `tflite.CALIBRATION_IMAGES` images of a folder, float32 on
  [-1, 1] at `image_size`, for int8 ranges; bad files skipped and logged.

  Raises:
    ValueError: the folder is missing, or holds no usable image.
  """
  paths = decode.list_images(calibration_dir) if os.path.isdir(
      calibration_dir) else []
  if not paths:
    raise ValueError(f"--calibration_dir={calibration_dir} holds no "
                     f"{'/'.join(decode.EXTENSIONS)} image")
  images, kept, _ = decode.read_photos(paths[:tflite.CALIBRATION_IMAGES],
                                       image_size, workers=2)
  if not kept:
    raise ValueError(f"no usable image in --calibration_dir="
                     f"{calibration_dir} (see the warnings above)")
  return pixels.to_unit(images)


def export_tflite(task: base.Task, generator: keras.Model, saved_model: str,
                  quantizations: Sequence[str], signature: str = "a2b",
                  calibration: np.ndarray = (), max_images: int = 100
                  ) -> List[Dict]:
  """TFLite models of `signature` beside the SavedModel `saved_model`.

  For each quantization, writes `<saved_model>_<signature>_<quantization>
  .tflite` (outside the version folder: TF Serving ignores it) after
  comparing it, on up to `max_images` held-out inputs of the task, with the
  SavedModel's float signature, which runs on them once for all.
  `calibration` (`read_calibration_images`) sets int8's ranges. Returns one
  {"path", "bytes", "max_abs", "psnr", "count", "latency_ms"} each.

  Raises:
    ValueError: a task or signature with no image -> image function, an
      unknown quantization, or int8 without calibration images.
  """
  if not quantizations:
    return []
  function, held_out = task.image_to_image(generator, signature)
  size = task.config.data.image_size
  inputs = held_out[:max_images]
  reference = tf.saved_model.load(saved_model).signatures[
      f"{signature.removesuffix('_float')}_float"]
  expected = np.concatenate([reference(image=tf.constant(inputs[i:i + 1]))[
      "image"].numpy() for i in range(len(inputs))])
  reports = []
  for quantization in quantizations:
    model = tflite.convert(function, size, quantization, calibration)
    report = tflite.compare(model, pixels.to_unit(inputs), expected)
    path = files.write_atomically(
        f"{saved_model}_{signature}_{quantization}.tflite", model)
    reports.append({"path": path, "bytes": len(model), **report,
                    "latency_ms": tflite.latency_ms(model, size)})
  return reports


def _run_eager(path: str, inputs: Dict[str, Dict[str, np.ndarray]]):
  """{signature: {output: array}} through tf.saved_model.load."""
  signatures = tf.saved_model.load(path).signatures
  outputs = {}
  for name, feeds in inputs.items():
    tensors = {k: tf.constant(v) for k, v in feeds.items()}
    outputs[name] = {k: v.numpy()
                     for k, v in signatures[name](**tensors).items()}
  return outputs


def _run_in_session(path: str, inputs: Dict[str, Dict[str, np.ndarray]]):
  """The same through a TF1 session: how TF Serving's C++ loader runs it."""
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel("ERROR")  # The TF1 loader's deprecation notice is noise here.
  try:
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
      meta_graph = tf.compat.v1.saved_model.load(session, ["serve"], path)
      # Every signature in one run: each run of a new set of fetches
      # optimises (Grappler) and prunes the graph anew, which costs more
      # than the tiny calls themselves. Each signature has placeholders of
      # its own ("<signature>_<input>:0"), so the feeds cannot collide.
      fetches, feed_dict = {}, {}
      for name, feeds in inputs.items():
        signature = meta_graph.signature_def[name]
        fetches[name] = {k: out.name for k, out in signature.outputs.items()}
        feed_dict.update({signature.inputs[k].name: v
                          for k, v in feeds.items()})
      outputs = session.run(fetches, feed_dict)
  finally:
    logger.setLevel(level)
  return outputs


def verify(path: str, module: sig.ExportModule, seed: int = 0) -> None:
  """Runs every signature of `path` through both loaders on the examples.

  `module.examples` holds each signature's inputs, the Keras model's answer
  and the tolerance: float outputs within 1e-5, uint8 images within 1 where
  the float sits on a rounding boundary (a missing weight or a wrong scaling
  is off by far more than that).

  Raises:
    VerificationError: naming each loader and signature that disagrees, and
      by how much.
  """
  examples = module.examples(np.random.default_rng(seed))
  inputs = {name: example.inputs for name, example in examples.items()}
  failures = []
  for loader, run in (("tf.saved_model.load", _run_eager),
                      ("TF1 session", _run_in_session)):
    try:
      outputs = run(path, inputs)
    except tf.errors.OpError as e:
      message = " ".join(e.message.split())
      failures.append(f"{loader} cannot run it: {message}")
      continue
    for name, outs in outputs.items():
      wants, tolerance = examples[name].expected, examples[name].tolerance
      if not isinstance(wants, dict):  # One output, whatever its name.
        (key,) = outs
        wants = {key: wants}
      for key, want in wants.items():
        diff = float(np.max(np.abs(outs[key].astype(np.float64) - want)))
        if not diff <= tolerance:  # Also catches NaN.
          where = name if len(wants) == 1 else f"{name}[{key}]"
          failures.append(f"{where} via {loader}: max |SavedModel - Keras| "
                          f"= {diff:.3g} > {tolerance}")
  if failures:
    raise VerificationError("the SavedModel does not reproduce the Keras "
                            f"generator: {'; '.join(failures)}")


def restore_for_serving(workdir: str, ema: bool = True
                        ) -> Tuple[base.Task, keras.Model, int]:
  """(task, generator, step) to serve from `workdir`'s latest checkpoint.

  The EMA weights when the run kept them and `ema`: averaged weights give
  smoother faces than the last step's. Built under a float32 policy even if
  a mixed one is active: training keeps float32 master weights, and serving
  wants float32 numerics.
  """
  with precision_lib.precision_policy("float32"):
    return tasks.restore(workdir, prefer_ema=ema)


class ImageFn:
  """A model's signature on numpy: named inputs -> its outputs.

  The inputs are the signature's, by name (few-shot: sketch and refs;
  label2face: labels, plus refs and ref_labels when the model reads
  references), so every family is called the same way and a feed the model
  does not take is an error, not silently dropped. Each feed is cast to its
  input's dtype: uint8 class ids to label2face_int32's int32, say.
  """

  def __init__(self, specs: Dict[str, tf.TensorSpec],
               call: Callable[..., Dict[str, tf.Tensor]]):
    self.inputs = tuple(specs)
    self._dtypes = [spec.dtype for spec in specs.values()]
    self._call = call

  def outputs(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """{input name: array} -> {output name: array}, every output."""
    if sorted(feeds) != sorted(self.inputs):
      raise ValueError(f"this model takes {', '.join(self.inputs)}; got "
                       f"{', '.join(feeds) or 'nothing'}")
    tensors = [tf.cast(tf.constant(feeds[name]), dtype)
               for name, dtype in zip(self.inputs, self._dtypes)]
    return {name: out.numpy() for name, out in self._call(*tensors).items()}

  def __call__(self, feeds: Dict[str, np.ndarray]) -> np.ndarray:
    """{input name: uint8 array} -> the uint8 image batch [B, S, S, 3]."""
    return self.image(self.outputs(feeds))

  @staticmethod
  def image(outputs: Dict[str, np.ndarray]) -> np.ndarray:
    """The "image" of `outputs`, uint8; a float one (label2face_float's) on
    [-1, 1] is converted as the uint8 signatures convert it."""
    if "image" not in outputs:
      raise ValueError(f"this signature returns {', '.join(outputs)}, not "
                       "an image")
    image = outputs["image"]
    return image if image.dtype == np.uint8 else pixels.to_uint8(image)


def serving_config(export_dir: str = "", workdir: str = ""
                   ) -> config_lib.Config:
  """The config of the model `load_image_fn` loads, without loading it.

  So a caller can check its inputs against the model (a sketch for a
  label-map model, say) before paying for the load.
  """
  if not export_dir:
    return config_lib.load_config(workdir)
  if not tf.saved_model.contains_saved_model(export_dir):
    versions = (sorted((d for d in os.listdir(export_dir) if d.isdigit()),
                       key=int) if os.path.isdir(export_dir) else [])
    hint = (f"; pass a version folder such as "
            f"{os.path.join(export_dir, versions[-1])}" if versions else "")
    raise FileNotFoundError(f"no SavedModel in {export_dir}{hint}")
  return config_lib.load_config(os.path.join(export_dir, EXTRA_DIR))


def load_image_fn(export_dir: str = "", workdir: str = "",
                  signature: str = "serving_default"
                  ) -> Tuple[config_lib.Config, ImageFn]:
  """(config, fn): the model's `signature` as an `ImageFn`.

  From a SavedModel version folder if `export_dir`, else straight from the
  checkpoint in `workdir` through the same signature, built in memory by
  the run's task, so both give the same image.

  Raises:
    FileNotFoundError: `export_dir` holds no SavedModel (naming a version
      folder inside it, if any).
    ValueError: a signature the model lacks (listing those it has), or one
      that does not draw from images (e.g. an unconditional model's, which
      takes noise).
  """
  config, fns = load_image_fns((signature,), export_dir, workdir)
  return config, fns[signature]


def load_image_fns(signatures: Optional[Sequence[str]] = None,
                   export_dir: str = "", workdir: str = ""
                   ) -> Tuple[config_lib.Config, Dict[str, ImageFn]]:
  """(config, {signature: fn}): `load_image_fn` of several signatures over
  one load of the model (what a server holding them all wants); None: every
  signature the model has, whatever it takes (noise too). Raises as
  `load_image_fn`."""
  config = serving_config(export_dir, workdir)
  calls = {}
  if export_dir:
    # The signatures must not outlive `loaded`: they would lose its
    # variables, so each call reaches them through it.
    loaded = tf.saved_model.load(export_dir)
    for name in _chosen(signatures, tuple(loaded.signatures.keys())):
      specs = loaded.signatures[name].structured_input_signature[1]
      calls[name] = (specs, functools.partial(_call_loaded, loaded, name,
                                              tuple(specs)))
  else:
    task, generator, _ = restore_for_serving(workdir)
    module = task.export_module(generator)
    for name in _chosen(signatures, module.SIGNATURES):
      # Its input signature names the inputs, so a signature is traced on
      # its first call, not here: a server or s2f-sample that runs one of
      # them does not pay seconds of tracing for the others.
      specs = getattr(module, name).input_signature  # In positional order.
      calls[name] = ({spec.name: spec for spec in specs},
                     functools.partial(_call_module, module, name))
  fns = {}
  for name, (specs, call) in calls.items():
    not_images = [f"{key} {spec.dtype.name}" for key, spec in specs.items()
                  if not spec.dtype.is_integer]
    if not_images and signatures is not None:
      raise ValueError("s2f-sample draws a face from uint8 images (a sketch "
                       f"or a label map); the {name} signature of this model "
                       f"(--task={config.model.task}) takes "
                       f"{', '.join(not_images)}")
    fns[name] = ImageFn(specs, call)
  return config, fns


def _chosen(signatures: Optional[Sequence[str]], names: Sequence[str]
            ) -> Sequence[str]:
  """`signatures` once each is known to be in `names`; None: all `names`."""
  if signatures is None:
    return names
  for name in signatures:
    _check_signature(name, names)
  return signatures


def _call_module(module: sig.ExportModule, signature: str, *tensors):
  """An in-memory export module's `signature` on positional `tensors`.

  Holds `module`: a tf.function method bound to it holds it only weakly,
  and traces (on its first call) through it.
  """
  return getattr(module, signature)(*tensors)


def _call_loaded(loaded, signature: str, names: Sequence[str], *tensors):
  """A loaded SavedModel's `signature` on positional `tensors`."""
  return loaded.signatures[signature](**dict(zip(names, tensors)))


def _check_signature(name: str, names: Sequence[str]) -> None:
  if name not in names:
    raise ValueError(f"this model has no signature {name!r}; it has "
                     f"{', '.join(sorted(names))}")
