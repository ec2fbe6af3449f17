"""The compiled training steps, built once per run.

`TrainSteps` holds `tf.function`s with input signatures taken from the
dataset's element spec, so they trace exactly once: a discriminator step, a
generator step that also updates the EMA generator, the same steps in their
lazy-regularisation phase (separate functions, as in StyleGAN2 / StyleGAN3,
rather than a data-dependent branch; built only when the task has lazy
regularisers), with --shared_generator_pass a step that updates both players
from one generator forward pass (every step, or the first --shared_pass_steps
before the alternating steps take over), and a gradients-only function for
histograms. Each player's update returns a `StepResult` of float32 tensors
reduced over replicas (the shared step a (D, G) pair); the loop fetches its
one fused finiteness flag every step and the measurements only when it logs.

What the losses are comes from the task (`s2f_tf.tasks`). Every loss is a
mean over the replica's batch, divided here by the replica count, i.e. a
mean over the global batch (`tf.nn.compute_average_loss` semantics),
because replica gradients are summed when they are applied.
"""

from typing import Dict, List, NamedTuple, Tuple

import tensorflow as tf

from s2f_tf import numerics
from s2f_tf import precision as precision_lib

class StepResult(NamedTuple):
  """What one player's step returns (a NamedTuple, so tf.function can).

  Attributes:
    measurements: loss terms, the player's total and the task's scalars.
    all_finite: 1.0 if every checked value was finite (always 1.0 with
      --check_numerics=off); the one value fetched every step.
    finite_terms: flag per loss term and watched tensor.
    finite_grads: flag per gradient, in data-flow order of the variables.
    loss_scale: the player's loss scale after the step (1.0 unscaled).
  """

  measurements: Dict[str, tf.Tensor]
  all_finite: tf.Tensor
  finite_terms: Dict[str, tf.Tensor]
  finite_grads: tf.Tensor
  loss_scale: tf.Tensor


class TrainSteps:
  """The players' steps (plain, lazily regularised, shared) and gradients."""

  def __init__(self, config, strategy, task, generator, discriminator, g_opt,
               d_opt, element_spec, ema_generator=None):
    self.config = config
    self.strategy = strategy
    self.task = task
    self.generator = generator
    self.discriminator = discriminator
    self.ema_generator = ema_generator
    self.optimizers = {"g": g_opt, "d": d_opt}
    self.check = config.train.check_numerics != "off"
    g_forward, d_forward = task.dummy_forwards(generator, discriminator)
    self.variables = {
        "g": numerics.forward_order(g_forward, generator.trainable_variables),
        "d": numerics.forward_order(d_forward,
                                    discriminator.trainable_variables),
    }
    self.lazy = task.lazy_intervals()
    self.signature = [element_spec]
    make = lambda key, reg: self._compile(
        lambda b: self._update(key, b, reg), ema=key == "g")
    self.d_step, self.g_step = make("d", False), make("g", False)
    self.d_step_reg = make("d", True) if self.lazy.d else None
    self.g_step_reg = make("g", True) if self.lazy.g else None
    self.shared_step = (self._compile(self._shared_update, ema=True)
                        if config.train.shared_generator_pass else None)
    self.gradients = tf.function(self._local_gradients,
                                 input_signature=self.signature)

  def shares_pass(self, step: int) -> bool:
    """Whether iteration `step` (from 0) runs the shared step."""
    until = self.config.train.shared_pass_steps
    return self.shared_step is not None and (not until or step < until)

  def step_for(self, key: str, index: int):
    """(name, function) of player `key`'s step number `index` (from 0)."""
    interval = getattr(self.lazy, key)
    if interval and index % interval == 0:
      return f"{key}_step_reg", getattr(self, f"{key}_step_reg")
    return f"{key}_step", getattr(self, f"{key}_step")

  def _compile(self, update, ema: bool):
    """A once-traced step: `update(batch)` on every replica, replica means,
    then (`ema`, after a G update) the EMA."""
    def step(batch):
      per_replica = self.strategy.run(update, args=(batch,))
      result = tf.nest.map_structure(
          lambda v: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v,
                                         axis=None), per_replica)
      if ema and self.ema_generator is not None:
        self._update_ema()
      return result
    # --jit_compile: XLA fuses the elementwise ops around the convs, but on
    # CPU it measured 2-4x slower than oneDNN (docs/speed.md), hence off by
    # default. The rare histogram gradients are never compiled.
    return tf.function(step, input_signature=self.signature,
                       jit_compile=self.config.train.jit_compile)

  def _terms(self, key, batch, regularize, generated=None):
    losses_of = self.task.d_terms if key == "d" else self.task.g_terms
    players = (self.generator, self.discriminator)
    if generated is None:  # Tasks that run G themselves take no `generated`.
      return losses_of(*players, batch, regularize)
    return losses_of(*players, batch, regularize, generated)

  def _loss(self, key, out):
    """(terms with weight decay, total, the scaled per-replica loss)."""
    terms = dict(out.terms)
    decay = self.config.train.weight_decay
    if decay:  # L2 weight decay as a loss term, on kernels only.
      terms[f"{key}_l2"] = decay * tf.add_n(
          [tf.nn.l2_loss(v) for v in self.variables[key]
           if "kernel" in v.path])
    total = tf.add_n(list(terms.values()))
    replicas = self.strategy.num_replicas_in_sync
    return terms, total, self.optimizers[key].scale_loss(total / replicas)

  def _grads(self, key, batch, regularize=False, generated=None):
    with tf.GradientTape() as tape:
      out = self._terms(key, batch, regularize, generated)
      terms, total, scaled = self._loss(key, out)
    grads = tape.gradient(scaled, self.variables[key])
    return terms, out, total, grads

  def _update(self, key, batch, regularize) -> StepResult:
    return self._apply(key, *self._grads(key, batch, regularize))

  def _shared_update(self, batch) -> Tuple[StepResult, StepResult]:
    """One G forward for both players (--shared_generator_pass).

    The generator's tape records the pass, pauses while D trains on the
    fake (the task stops its gradient), then records G's terms against the
    updated D: the same updates as a D step and then a G step on this
    batch, for one G forward less.
    """
    with tf.GradientTape() as tape:
      generated = self.task.generator_pass(self.generator, batch)
      with tape.stop_recording():
        d = self._apply("d", *self._grads("d", batch, False, generated))
      out = self._terms("g", batch, False, generated)
      terms, total, scaled = self._loss("g", out)
    grads = tape.gradient(scaled, self.variables["g"])
    return d, self._apply("g", terms, out, total, grads)

  def _apply(self, key, terms, out, total, grads) -> StepResult:
    """Applies one player's gradients; its StepResult."""
    optimizer = self.optimizers[key]
    optimizer.apply(grads, self.variables[key])
    if key == "d" and self.config.train.gan_loss == "wgan":
      # Weight clipping keeps the critic K-Lipschitz (Arjovsky et al. 2017).
      clip = self.config.train.wgan_clip
      for v in self.variables["d"]:
        v.assign(tf.clip_by_value(v, -clip, clip))
    measurements = dict(terms, **out.measurements)
    measurements[f"{key}_total"] = total
    if self.check:
      fused, finite_terms, finite_grads = numerics.finiteness(
          dict(terms, **out.watched), grads)
    else:
      fused, finite_terms, finite_grads = tf.ones([]), {}, tf.ones([0])
    scale = tf.cast(precision_lib.loss_scale(optimizer), tf.float32)
    return StepResult(measurements, fused, finite_terms, finite_grads, scale)

  def _update_ema(self):
    """ema = beta * ema + (1 - beta) * w, in cross-replica context.

    Assigning here (not per replica) writes one value to every copy, so the
    EMA weights stay identical across replicas.
    """
    beta = self.config.train.ema_beta
    for ema, w in zip(self.ema_generator.variables, self.generator.variables):
      ema.assign(beta * ema + (1.0 - beta) * tf.cast(w, ema.dtype))

  def _local_gradients(self, batch):
    """Unapplied, unscaled gradients of both players on one replica's batch.

    Used for histograms only, so it is its own (once-traced) function and the
    hot steps never carry gradients out of the graph.
    """
    def grads(b):
      out = []
      for key in ("g", "d"):
        scale = precision_lib.loss_scale(self.optimizers[key])
        out.append([g / tf.cast(scale, g.dtype)
                    for g in self._grads(key, b)[-1]])
      return tuple(out)
    per_replica = self.strategy.run(grads, args=(batch,))
    return tf.nest.map_structure(
        lambda v: self.strategy.experimental_local_results(v)[0], per_replica)

  def variable_paths(self) -> Dict[str, List[str]]:
    return {k: [v.path for v in vs] for k, vs in self.variables.items()}
