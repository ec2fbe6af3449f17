"""Mixed precision in one place: the Keras policy and one optimizer per player.

Under `mixed_float16` each player gets its own `LossScaleOptimizer`, because
the generator's and discriminator's gradients overflow at different scales;
gradients always go through `optimizer.scale_loss` so the same step code serves
every precision. Norm statistics, losses and model outputs stay float32 (the
layers and losses cast explicitly).
"""

import contextlib

import keras


@contextlib.contextmanager
def precision_policy(name: str):
  """Sets the global Keras dtype policy for the models built inside.

  The previous policy is restored on exit so that tests and in-process callers
  never leak a float16 policy into the next model they build.
  """
  previous = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy(name)
  try:
    yield
  finally:
    keras.mixed_precision.set_global_policy(previous)


def make_optimizer(kind: str, learning_rate: float, beta1: float, beta2: float,
                   precision: str, name: str) -> keras.optimizers.Optimizer:
  """Adam or RMSprop, wrapped in a dynamic LossScaleOptimizer for float16.

  bfloat16 has float32's exponent range, so it needs no loss scaling.
  """
  if kind == "rmsprop":
    optimizer = keras.optimizers.RMSprop(learning_rate=learning_rate,
                                         name=name)
  else:
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate,
                                      beta_1=beta1, beta_2=beta2, name=name)
  if precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer,
                                                    name=f"{name}_scaled")
  return optimizer


def loss_scale(optimizer: keras.optimizers.Optimizer):
  """The current dynamic loss scale, or 1.0 for unscaled optimizers."""
  if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
    return optimizer.dynamic_scale
  return 1.0
