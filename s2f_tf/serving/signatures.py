"""The base of every family's serving module, and its input checks.

Input specs leave every dimension free and the graph checks the real shape
first: a loaded signature (Python or TF Serving) does not check shapes
against its spec, and a static spec would let TF drop our check as
statically true. A wrong shape therefore fails with "sketch must be uint8
[B, 64, 64, 1], got shape [...]" instead of deep inside a conv.

`InputFile` declares how a user's files feed a signature's inputs (what
`s2f-sample` reads); `check_files` and `load_files` match the files given
against a task's declaration and read them. `InputValue` declares an input
a user sets as a number instead (a noise seed, truncation psi: what
`s2f-serve`'s sliders send).
"""

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import images

TOLERANCE = 1e-5  # Max |SavedModel - Keras| on float outputs, every family.


def spec(rank: int, dtype: tf.DType, name: str) -> tf.TensorSpec:
  """A signature input of `rank` with every dimension free."""
  return tf.TensorSpec([None] * rank, dtype, name=name)


def checked(x: tf.Tensor, name: str, dims: Sequence[Union[int, str]]):
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


def same_batch(a: tf.Tensor, b: tf.Tensor, names: str):
  """Returns `b` once its batch size is known to equal `a`'s."""
  check = tf.debugging.assert_equal(
      tf.shape(a)[0], tf.shape(b)[0],
      message=f"{names} must have the same batch size B")
  with tf.control_dependencies([check]):
    return tf.identity(b)


@dataclasses.dataclass(frozen=True)
class Example:
  """One verification call: feeds, the Keras model's answer, the tolerance.

  `expected` is the one output's array, or {output name: array} for a
  signature with several outputs (an image and its attention map, say).
  """

  inputs: Dict[str, np.ndarray]
  expected: Union[np.ndarray, Dict[str, np.ndarray]]
  tolerance: float


class ExportModule(tf.Module):
  """A generator as named serving signatures, plus how to verify them.

  `weights` holds every weight by its Keras path, as the tf.Variable inside
  each keras.Variable: Keras 3 keeps layers in Python lists that tf.Module
  does not track, and a tracked keras.Variable is exported as a second copy
  of its tf.Variable, which the checkpoint restores while the graph reads
  the first, so TF1-style loaders (TF Serving, `saved_model_cli run`) fail
  with "Could not find variable" (keras-team/keras#19274). Subclasses reach
  the model through bound methods, which are not tracked, so its object
  graph stays out of the export.

  Subclasses set SIGNATURES (tf.function methods with input signatures; the
  first is `serving_default`) and implement `examples`.
  """

  SIGNATURES: Tuple[str, ...] = ()

  def __init__(self, generator: keras.Model, name: str):
    super().__init__(name=name)
    if generator.compute_dtype != "float32":
      raise ValueError(
          f"export needs a float32 generator, got {generator.compute_dtype}; "
          "rebuild it under a float32 policy (export.restore_for_serving "
          "does)")
    self.weights = {v.path: v.value for v in generator.variables}

  def signatures(self):
    """{name: tf.function} for `tf.saved_model.save(signatures=...)`.

    The functions, not their concrete functions: `save` traces inside its
    save context, whose cache key differs from a trace made before it, so
    handing it traces made outside would trace every signature twice (each
    trace of the generator costs seconds).
    """
    return {name: getattr(self, name) for name in self.SIGNATURES}

  def examples(self, rng: np.random.Generator) -> Dict[str, Example]:
    """Signature name -> a call and what the Keras model answers to it."""
    raise NotImplementedError


# Inputs from files ------------------------------------------------------------

# A file flag's value: one path, a list of paths, or None (not given).
Files = Dict[str, Optional[Union[str, List[str]]]]


@dataclasses.dataclass(frozen=True)
class InputFile:
  """One way a user feeds one input of a signature from files.

  Attributes:
    input: the signature input it feeds, e.g. "sketch".
    flag: the flag (s2f-sample's) that names the file(s), e.g. "sketch_from".
      Several InputFiles of one input are alternatives: exactly one is given.
    kind: how the file(s) become the uint8 tensor, e.g. `images.Sketch()`.
    what: the file(s) in words, e.g. "a sketch". The first input's names the
      model in errors: "this model draws a face from a sketch".
    missing: the error when no file is given for the input (the default
      names every flag the signature reads); set it where the reason is the
      model's (e.g. "sean reads each reference under its own mask: ...").
  """

  input: str
  flag: str
  kind: images.FileKind
  what: str
  missing: str = ""


def _either(flags: Sequence[str]) -> str:
  """["a", "b", "c"] -> "--a, --b or --c"."""
  names = [f"--{flag}" for flag in flags]
  return " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def check_files(inputs: Sequence[InputFile], files: Files, task: str,
                signature: str) -> Dict[str, Tuple[InputFile, object]]:
  """Which declared file feeds each input: {input: (InputFile, value)}.

  Args:
    inputs: the signature's declaration (`Task.serving_inputs`).
    files: every file flag the caller has, None or empty where not given,
      so an error can name all those this model does not read.
    task: the model's task, for errors.
    signature: the signature's name, for errors.

  Raises:
    ValueError: one line naming the flags to pass or drop: the signature
      reads no files, a file it does not read, an input given twice
      (--sketch and --sketch_from) or not at all, several files where it
      reads one.
  """
  if not inputs:
    raise ValueError(f"no file feeds the {signature} signature of this "
                     f"model (--task={task}); call it from Python or TF "
                     "Serving (docs/serving.md)")
  groups: Dict[str, List[InputFile]] = {}
  for source in inputs:
    groups.setdefault(source.input, []).append(source)
  flags = [[source.flag for source in group] for group in groups.values()]
  usage = " with ".join(filter(None, [
      _either(flags[0]), " and ".join(_either(f) for f in flags[1:])]))
  head = f"this model draws a face from {inputs[0].what} (--task={task})"
  read = {source.flag for source in inputs}
  unread = [flag for flag in files if flag not in read]
  if any(files[flag] for flag in unread):
    raise ValueError(f"{head}: pass {usage}, not {_either(unread)}")
  chosen = {}
  for name, group in groups.items():
    given = [source for source in group if files.get(source.flag)]
    if len(given) > 1:
      raise ValueError(f"{head}: pass one of "
                       f"{_either([s.flag for s in given])}, not both")
    if not given:
      reasons = [source.missing for source in group if source.missing]
      raise ValueError(reasons[0] if reasons else f"{head}: pass {usage}")
    (source,) = given
    value = files[source.flag]
    paths = [value] if isinstance(value, str) else list(value)
    if not source.kind.many and len(paths) > 1:
      raise ValueError(f"--{source.flag} takes one file, got {len(paths)}")
    chosen[name] = (source, paths if source.kind.many else paths[0])
  return chosen


def load_files(inputs: Sequence[InputFile], files: Files, task: str,
               signature: str, size: int) -> Dict[str, np.ndarray]:
  """`check_files`, then each input read by its kind at `size`: {input:
  uint8 batch of 1}. Raises as `check_files`, or decode.BadFile naming the
  first file that is missing or unreadable."""
  chosen = check_files(inputs, files, task, signature)
  return {name: source.kind.read(value, size)
          for name, (source, value) in chosen.items()}


# Inputs from numbers -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Noise:
  """A seed -> standard normal noise float32 [1, size], the same for the
  same seed on every machine (numpy's PCG64)."""

  size: int

  def make(self, value: float) -> np.ndarray:
    if value != int(value) or not 0 <= value < 2**32:
      raise ValueError(f"a seed is an integer 0 .. {2**32 - 1}, got {value}")
    rng = np.random.default_rng(int(value))
    return rng.standard_normal((1, self.size)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Scalar:
  """A number in [low, high] -> float32 [] (e.g. truncation psi); with a
  `step`, only low + n * step (a layer index: step 1)."""

  low: float
  high: float
  default: float
  step: float = 0.0

  def make(self, value: float) -> np.ndarray:
    if not self.low <= value <= self.high:
      raise ValueError(f"expected {self.low} .. {self.high}, got {value}")
    if self.step and (value - self.low) % self.step:
      raise ValueError(f"expected {self.low} + a multiple of {self.step}, "
                       f"got {value}")
    return np.float32(value)


@dataclasses.dataclass(frozen=True)
class InputValue:
  """One input of a signature set from a number: `kind.make(number)`.

  Attributes:
    input: the signature input it feeds, e.g. "z".
    kind: `Noise` or `Scalar`.
    what: the number in words, e.g. "the noise's seed".
  """

  input: str
  kind: Union[Noise, Scalar]
  what: str
