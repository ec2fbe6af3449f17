"""Poisoning one layer of a built model: the test-only stand-in for "NaN
gradients appeared in one decoder layer nobody could name".

A layer's `call` is replaced before the step is traced, so the traced step
carries the poison; the numerics tests of every task use these.
"""

import numpy as np
import tensorflow as tf


def layer(model, path):
  """The layer of `model` at Keras path `path`."""
  return next(l for l in model._flatten_layers() if l.path == path)  # pylint: disable=protected-access


def poison(model, path, transform):
  """Makes the layer at `path` return transform(its output)."""
  poisoned = layer(model, path)
  call = poisoned.call
  poisoned.call = lambda *args, **kwargs: transform(call(*args, **kwargs))


def nan_gradient_from(step, first_bad):
  """Identity whose gradient turns NaN once `step` reaches `first_bad`: the
  steps before it train (and checkpoint) normally in the same run."""
  @tf.custom_gradient
  def poisoned(x):
    def grad(dy):
      return dy * tf.cast(tf.where(step >= first_bad, np.nan, 1.0), dy.dtype)
    return tf.identity(x), grad
  return poisoned
