"""The shared adversarial objective: D's loss terms, optimizers, constraints.

Every family picks its adversarial loss and regularisers from the same
flags (--gan_loss, --r1_gamma, --gp_lambda ...), and some objectives come
with their own optimizer and update rule: a weight-clipped WGAN critic
trains with RMSprop and is clipped after every update (Arjovsky et al.
2017, arXiv:1701.07875). Those choices live here, behind the task's
`make_optimizers` and `after_update`, so that the loop and the steps never
name a loss.
"""

from typing import Dict, Sequence

import keras
import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import losses
from s2f_tf import precision as precision_lib
from s2f_tf import schedules


# Where each loss puts D's decision between real (above) and fake: what
# ADA's overfitting heuristic takes the sign against. A critic (WGAN) has
# none: its output is defined up to a constant.
DECISION_THRESHOLDS = {"hinge": 0.0, "non_saturating": 0.0, "lsgan": 0.5}


def discriminator_terms(config: config_lib.Config, logits_fn, real, fake,
                        regularize: bool, logits=None,
                        observe=None) -> Dict[str, tf.Tensor]:
  """The adversarial D loss and its regularisers, shared by every task.

  Terms are named bare ("adv", "gp", "r1", "r2"); the steps file them under
  the player ("d/adv"). `regularize` marks the lazy-regularisation step
  (every r1_interval D steps); the penalties are then weighted by the
  interval so the expected penalty per step is unchanged (Karras et al.
  2020, arXiv:1912.04958). R1 and R2 are Mescheder et al. 2018
  (arXiv:1801.04406), the gradient penalty Gulrajani et al. 2017
  (arXiv:1704.00028). `logits` are (real, fake) logits a caller already
  has; `observe` (`Task.observe_real`) is called with the real ones.
  """
  t = config.train
  _, d_loss = losses.GAN_LOSSES[t.gan_loss]
  real_logits, fake_logits = logits or (logits_fn(real), logits_fn(fake))
  if observe is not None:
    observe(real_logits)
  terms = {"adv": d_loss(real_logits, fake_logits)}
  if t.gan_loss == "wgan_gp":
    terms["gp"] = t.gp_lambda * losses.wasserstein_gradient_penalty(
        logits_fn, real, fake)
  if regularize and t.r1_gamma > 0:  # r1/r2 penalties are E||grad||^2 / 2.
    terms["r1"] = (t.r1_gamma * t.r1_interval *
                   losses.r1_penalty(logits_fn, real))
  if regularize and t.r2_gamma > 0:
    terms["r2"] = (t.r2_gamma * t.r1_interval *
                   losses.r2_penalty(logits_fn, fake))
  return terms


def make_optimizer(config: config_lib.Config,
                   player: str) -> keras.optimizers.Optimizer:
  """Player "g" or "d"'s optimizer, named "g_opt" / "d_opt" (checkpoint keys).

  Adam, except RMSprop for the weight-clipped WGAN critic and its generator
  (momentum fights the clipping; Arjovsky et al. 2017). The learning rate
  follows `schedules.learning_rate`; D counts --n_critic updates per step.
  Call under the strategy's scope.
  """
  t = config.train
  kind = "rmsprop" if t.gan_loss == "wgan" else "adam"
  rate, per_step = (t.d_lr, t.n_critic) if player == "d" else (t.g_lr, 1)
  learning_rate = schedules.learning_rate(rate, t.steps, t.lr_decay_steps,
                                          updates_per_step=per_step)
  return precision_lib.make_optimizer(kind, learning_rate, t.beta1, t.beta2,
                                      t.precision, f"{player}_opt")


def constrain(config: config_lib.Config, player: str,
              variables: Sequence[tf.Variable]) -> None:
  """After player's update: clips the WGAN critic's weights to +-wgan_clip.

  Clipping keeps the critic K-Lipschitz (Arjovsky et al. 2017); only the
  variables this phase trains are clipped. Other objectives: no-op.
  """
  if player != "d" or config.train.gan_loss != "wgan":
    return
  clip = config.train.wgan_clip
  for v in variables:
    v.assign(tf.clip_by_value(v, -clip, clip))
