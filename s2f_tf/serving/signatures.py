"""The base of every family's serving module, and its input checks.

Input specs leave every dimension free and the graph checks the real shape
first: a loaded signature (Python or TF Serving) does not check shapes
against its spec, and a static spec would let TF drop our check as
statically true. A wrong shape therefore fails with "sketch must be uint8
[B, 64, 64, 1], got shape [...]" instead of deep inside a conv.
"""

import dataclasses
from typing import Dict, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf

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
  """One verification call: feeds, the Keras model's answer, the tolerance."""

  inputs: Dict[str, np.ndarray]
  expected: np.ndarray
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
    return {name: getattr(self, name).get_concrete_function()
            for name in self.SIGNATURES}

  def examples(self, rng: np.random.Generator) -> Dict[str, Example]:
    """Signature name -> a call and what the Keras model answers to it."""
    raise NotImplementedError
