"""SavedModel export of the generator for TF Serving, and loading it back.

`export` writes `export_dir/<version>/`, the layout TF Serving polls, with
four signatures (B is the batch, K the number of reference photos, S the
model's image size; K may differ from call to call):

  serving_default  sketch uint8 [B, S, S, 1], refs uint8 [B, K, S, S, 3]
                   -> image uint8 [B, S, S, 3]
  serving_float    the same in float32 on [-1, 1], the model's own scale
  encode_style     refs uint8 [B, K, S, S, 3] -> style float32 [B, style_dim]
  generate         sketch uint8, style float32 [B, style_dim] -> image uint8

`encode_style` + `generate` let a service compute a person's style code once
and reuse it for every sketch. Input specs leave every dimension free and the
graph checks the real shape first: a loaded signature (Python or TF Serving)
does not check shapes against its spec, and a static spec would let TF drop
our check as statically true. A wrong shape therefore fails with "sketch must
be uint8 [B, 64, 64, 1], got shape [...]" instead of deep inside a conv.

The export is written beside its final folder, reloaded and compared with
the in-process model on a test batch, and only then renamed into place, so a
server watching `export_dir` never sees an unverified version.
"""

import os
import shutil
import tempfile
from typing import Callable, Dict, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf import pixels
from s2f_tf import precision as precision_lib

SIGNATURES = ("serving_default", "serving_float", "encode_style", "generate")
# TF and TF Serving leave assets.extra/ alone; the sampler reads the config.
EXTRA_DIR = "assets.extra"
TOLERANCE = 1e-5  # Max |SavedModel - Keras| on float outputs at export.


class VerificationError(RuntimeError):
  """The reloaded SavedModel does not compute what the Keras model computes."""


def _spec(rank: int, dtype: tf.DType, name: str) -> tf.TensorSpec:
  return tf.TensorSpec([None] * rank, dtype, name=name)


def _checked(x: tf.Tensor, name: str, dims: Sequence[Union[int, str]]):
  """Asserts x's runtime shape, then gives x that static shape.

  Args:
    x: an input of the signature.
    name: its name in the error message.
    dims: the expected shape; a str (e.g. "B", "K") is any size >= 1.

  Returns:
    x with static shape `dims` (str -> None), after the check has run.
  """
  shape = tf.shape(x)
  # Padding lets a tensor of the wrong rank reach the same message.
  padded = tf.concat([shape, tf.zeros([len(dims)], tf.int32)], 0)
  ok = tf.equal(tf.size(shape), len(dims))
  for i, dim in enumerate(dims):
    ok &= padded[i] >= 1 if isinstance(dim, str) else tf.equal(padded[i], dim)
  free = [d for d in dims if isinstance(d, str)]
  message = (f"{name} must be {x.dtype.name} [{', '.join(map(str, dims))}] "
             f"with {', '.join(free)} >= 1, got shape")
  check = tf.debugging.Assert(ok, [message, shape], summarize=len(dims) + 1)
  with tf.control_dependencies([check]):
    static = [None if isinstance(d, str) else d for d in dims]
    return tf.ensure_shape(tf.identity(x), static)


def _same_batch(a: tf.Tensor, b: tf.Tensor, names: str):
  """Returns `b` once its batch size is known to equal `a`'s."""
  check = tf.debugging.assert_equal(
      tf.shape(a)[0], tf.shape(b)[0],
      message=f"{names} must have the same batch size B")
  with tf.control_dependencies([check]):
    return tf.identity(b)


class ExportModule(tf.Module):
  """The generator as four serving signatures (see the module docstring).

  `weights` holds every weight by its Keras path, as the tf.Variable inside
  each keras.Variable: Keras 3 keeps layers in Python lists that tf.Module
  does not track, and a tracked keras.Variable is exported as a second copy
  of its tf.Variable, which the checkpoint restores while the graph reads
  the first, so TF1-style loaders (TF Serving, `saved_model_cli run`) fail
  with "Could not find variable" (keras-team/keras#19274). The model itself
  is reached through bound methods, which are not tracked, so its object
  graph stays out of the export.
  """

  def __init__(self, generator: keras.Model):
    super().__init__(name="s2f_generator")
    if generator.compute_dtype != "float32":
      raise ValueError(
          f"export needs a float32 generator, got {generator.compute_dtype}; "
          "rebuild it under a float32 policy (restore_serving_generator does)")
    self.weights = {v.path: v.value for v in generator.variables}
    self._encode, self._generate = generator.encode_style, generator.generate
    size = generator.image_size
    self._sketch_dims = ("B", size, size, 1)
    self._refs_dims = ("B", "K", size, size, 3)
    self._style_dims = ("B", generator.model_config.style_dim)

  def _image(self, sketch, refs):
    """Checked inputs in their own dtype -> image float32 in [-1, 1]."""
    sketch = _checked(sketch, "sketch", self._sketch_dims)
    refs = _same_batch(sketch, _checked(refs, "refs", self._refs_dims),
                       "sketch and refs")
    if sketch.dtype == tf.uint8:
      sketch, refs = pixels.to_unit(sketch), pixels.to_unit(refs)
    return self._generate(sketch, self._encode(refs))

  @tf.function(input_signature=[_spec(4, tf.uint8, "sketch"),
                                _spec(5, tf.uint8, "refs")],
               jit_compile=False)
  def serving_default(self, sketch, refs):
    return {"image": pixels.to_uint8(self._image(sketch, refs))}

  @tf.function(input_signature=[_spec(4, tf.float32, "sketch"),
                                _spec(5, tf.float32, "refs")],
               jit_compile=False)
  def serving_float(self, sketch, refs):
    return {"image": self._image(sketch, refs)}

  @tf.function(input_signature=[_spec(5, tf.uint8, "refs")],
               jit_compile=False)
  def encode_style(self, refs):
    refs = _checked(refs, "refs", self._refs_dims)
    style = self._encode(pixels.to_unit(refs))
    return {"style": tf.ensure_shape(style, [None, self._style_dims[1]])}

  @tf.function(input_signature=[_spec(4, tf.uint8, "sketch"),
                                _spec(2, tf.float32, "style")],
               jit_compile=False)
  def generate(self, sketch, style):
    sketch = _checked(sketch, "sketch", self._sketch_dims)
    style = _same_batch(sketch, _checked(style, "style", self._style_dims),
                        "sketch and style")
    image = self._generate(pixels.to_unit(sketch), style)
    return {"image": pixels.to_uint8(image)}

  def signatures(self):
    return {name: getattr(self, name).get_concrete_function()
            for name in SIGNATURES}


def export(generator: keras.Model, config: config_lib.Config,
           export_dir: str, version: int = 1) -> str:
  """Writes, verifies and publishes `export_dir/<version>`; returns its path.

  Raises:
    FileExistsError: that version exists (TF Serving never reloads a version
      in place, so a new model needs a new number).
    ValueError: a generator that cannot be served: mixed precision, another
      model than s2f, or the "random" style debugging mode, whose output no
      test can reproduce.
    VerificationError: the reloaded model disagrees with `generator`; nothing
      is left in `export_dir`.
  """
  _check_servable(config)
  if config.model.style_source == "random":
    raise ValueError("style_source='random' is a debugging mode with random "
                     "outputs; export a generator trained with 'embedder'")
  final = os.path.join(export_dir, str(version))
  if os.path.exists(final):
    raise FileExistsError(f"{final} exists; pass another version number or "
                          "delete it")
  os.makedirs(export_dir, exist_ok=True)
  # A dot-name is not a version number, so TF Serving ignores it until the
  # rename, which is atomic on one file system.
  scratch = tempfile.mkdtemp(prefix=f".{version}-", dir=export_dir)
  try:
    module = ExportModule(generator)
    tf.saved_model.save(module, scratch, signatures=module.signatures())
    os.makedirs(os.path.join(scratch, EXTRA_DIR))
    config_lib.save_config(config, os.path.join(scratch, EXTRA_DIR))
    verify(scratch, generator, config.data.k_refs)
    os.rename(scratch, final)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  return final


def _run_eager(path: str, inputs: Dict[str, Dict[str, np.ndarray]]):
  """{signature: its only output} through tf.saved_model.load."""
  signatures = tf.saved_model.load(path).signatures
  outputs = {}
  for name, feeds in inputs.items():
    tensors = {k: tf.constant(v) for k, v in feeds.items()}
    (out,) = signatures[name](**tensors).values()
    outputs[name] = out.numpy()
  return outputs


def _run_in_session(path: str, inputs: Dict[str, Dict[str, np.ndarray]]):
  """The same through a TF1 session: how TF Serving's C++ loader runs it."""
  outputs = {}
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel("ERROR")  # The TF1 loader's deprecation notice is noise here.
  try:
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
      meta_graph = tf.compat.v1.saved_model.load(session, ["serve"], path)
      for name, feeds in inputs.items():
        signature = meta_graph.signature_def[name]
        (out,) = signature.outputs.values()
        outputs[name] = session.run(out.name, {
            signature.inputs[k].name: v for k, v in feeds.items()})
  finally:
    logger.setLevel(level)
  return outputs


def verify(path: str, generator: keras.Model, k_refs: int,
           batch_size: int = 2, seed: int = 0) -> None:
  """Runs every signature of `path` through both loaders against `generator`.

  Float outputs (image, style) must agree within TOLERANCE. uint8 images
  may differ by 1 where the float sits on a rounding boundary; a missing
  weight or a wrong scaling is off by far more than that.

  Raises:
    VerificationError: naming each loader and signature that disagrees, and
      by how much.
  """
  rng = np.random.default_rng(seed)
  size = generator.image_size
  sketch = rng.integers(0, 256, (batch_size, size, size, 1), np.uint8)
  refs = rng.integers(0, 256, (batch_size, k_refs, size, size, 3), np.uint8)
  unit = pixels.to_unit
  image = generator({"sketch": unit(sketch), "refs": unit(refs)}).numpy()
  style = generator.encode_style(unit(refs)).numpy()
  inputs = {"serving_default": {"sketch": sketch, "refs": refs},
            "serving_float": {"sketch": unit(sketch), "refs": unit(refs)},
            "encode_style": {"refs": refs},
            "generate": {"sketch": sketch, "style": style}}
  expected = {"serving_default": (pixels.to_uint8(image), 1),
              "serving_float": (image, TOLERANCE),
              "encode_style": (style, TOLERANCE),
              "generate": (pixels.to_uint8(image), 1)}
  failures = []
  for loader, run in (("tf.saved_model.load", _run_eager),
                      ("TF1 session", _run_in_session)):
    try:
      outputs = run(path, inputs)
    except tf.errors.OpError as e:
      message = " ".join(e.message.split())
      failures.append(f"{loader} cannot run it: {message}")
      continue
    for name, out in outputs.items():
      want, tolerance = expected[name]
      diff = float(np.max(np.abs(out.astype(np.float64) - want)))
      if not diff <= tolerance:  # Also catches NaN.
        failures.append(f"{name} via {loader}: max |SavedModel - Keras| = "
                        f"{diff:.3g} > {tolerance}")
  if failures:
    raise VerificationError("the SavedModel does not reproduce the Keras "
                            f"generator: {'; '.join(failures)}")


def _check_servable(config: config_lib.Config) -> None:
  if config.model.model != "s2f":
    raise ValueError("only the sketch-to-face model (--model=s2f) is served; "
                     f"this run is --model={config.model.model}")


def restore_serving_generator(workdir: str, ema: bool = True
                              ) -> Tuple[config_lib.Config, keras.Model, int]:
  """(config, generator, step) to serve from `workdir`'s latest checkpoint.

  The EMA weights when the run kept them and `ema`: averaged weights give
  smoother faces than the last step's. Built under a float32 policy even if
  a mixed one is active: training keeps float32 master weights, and serving
  wants float32 numerics.
  """
  _check_servable(config_lib.load_config(workdir))
  with precision_lib.precision_policy("float32"):
    return checkpointing.restore_generator(workdir, prefer_ema=ema)


ImageFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def load_image_fn(export_dir: str = "", workdir: str = ""
                  ) -> Tuple[config_lib.Config, ImageFn]:
  """(config, fn) with fn(sketch uint8, refs uint8) -> image uint8.

  From a SavedModel version folder if `export_dir`, else straight from the
  checkpoint in `workdir`, through the same `serving_default` graph.
  """
  if not export_dir:
    config, generator, _ = restore_serving_generator(workdir)
    module = ExportModule(generator)
    return config, lambda sketch, refs: module.serving_default(
        sketch, refs)["image"].numpy()
  if not tf.saved_model.contains_saved_model(export_dir):
    versions = (sorted((d for d in os.listdir(export_dir) if d.isdigit()),
                       key=int) if os.path.isdir(export_dir) else [])
    hint = (f"; pass a version folder such as "
            f"{os.path.join(export_dir, versions[-1])}" if versions else "")
    raise FileNotFoundError(f"no SavedModel in {export_dir}{hint}")
  config = config_lib.load_config(os.path.join(export_dir, EXTRA_DIR))
  # The signature must not outlive `loaded`: it would lose its variables.
  loaded = tf.saved_model.load(export_dir)
  return config, lambda sketch, refs: loaded.signatures["serving_default"](
      sketch=tf.constant(sketch), refs=tf.constant(refs))["image"].numpy()
