"""Learning-rate schedules of the players' optimizers.

One schedule so far: constant, then a linear decay to zero over the last
steps of the run, as pix2pix (`--n_epochs_decay`, Isola et al. 2017,
arXiv:1611.07004) and U-GAT-IT (`--decay_flag`, Kim et al. 2020,
arXiv:1907.10830) train. Annealing the step size removes the noise that a
constant Adam step keeps in the weights, so the last steps of a short run
buy more held-out PSNR than the same number of constant-rate steps
(docs/speed.md measures it on the CPU demo).

The schedule reads the optimizer's own `iterations`, which the checkpoint
restores, so a resumed run continues on the same curve.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="s2f_tf")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
  """`rate` for `total - decay` updates, then linearly down to 0 at `total`.

  Args:
    rate: the constant learning rate.
    total: the optimizer's updates in the whole run (a discriminator with
      `--n_critic=5` makes 5 per step).
    decay: the last updates over which the rate falls to 0; 0: constant.
  """

  def __init__(self, rate: float, total: int, decay: int):
    self.rate, self.total, self.decay = float(rate), int(total), int(decay)

  def __call__(self, step):
    if not self.decay:
      return ops.convert_to_tensor(self.rate, "float32")
    remaining = ops.cast(self.total, "float32") - ops.cast(step, "float32")
    fraction = ops.clip(remaining / float(self.decay), 0.0, 1.0)
    return self.rate * fraction

  def get_config(self):
    return {"rate": self.rate, "total": self.total, "decay": self.decay}


def learning_rate(rate: float, steps: int, decay_steps: int,
                  updates_per_step: int = 1):
  """The optimizer's `learning_rate`: a float, or a LinearDecay in updates."""
  if not decay_steps:
    return rate
  return LinearDecay(rate, steps * updates_per_step,
                     decay_steps * updates_per_step)
