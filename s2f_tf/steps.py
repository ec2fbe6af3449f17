"""The compiled training steps, built once per run.

`TrainSteps` holds `tf.function`s with input signatures taken from the
dataset's element spec, so they trace exactly once: a discriminator step, the
same step in the lazy-regularisation phase (R1/R2 every N steps, a separate
function as in StyleGAN2 / StyleGAN3 rather than a data-dependent branch), a
generator step that also updates the EMA generator, and a gradients-only
function for histograms. Each returns a dict of float32 measurements reduced
over replicas; the loop fetches them only when it needs them.

What the losses are comes from the task (`tasks.py`). Every loss is a mean
over the replica's batch divided by the replica count, i.e. a mean over the
global batch (`tf.nn.compute_average_loss` semantics), because replica
gradients are summed when they are applied.
"""

from typing import Dict, List

import tensorflow as tf

from s2f_tf import numerics
from s2f_tf import precision as precision_lib


class TrainSteps:
  """The D step, the D step with lazy regularisers, the G step, gradients."""

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
    sig = [element_spec]
    self.d_step = tf.function(lambda b: self._run(self._d_update, b, False),
                              input_signature=sig)
    self.d_step_reg = tf.function(
        lambda b: self._run(self._d_update, b, True), input_signature=sig)
    self.g_step = tf.function(self._g_step, input_signature=sig)
    self.gradients = tf.function(self._local_gradients, input_signature=sig)

  def _terms(self, key, batch, regularize=False):
    if key == "d":
      return self.task.d_terms(self.generator, self.discriminator, batch,
                               regularize)
    return self.task.g_terms(self.generator, self.discriminator, batch)

  def _grads(self, key, batch, regularize=False):
    optimizer = self.optimizers[key]
    replicas = self.strategy.num_replicas_in_sync
    with tf.GradientTape() as tape:
      terms, stats, watched = self._terms(key, batch, regularize)
      decay = self.config.train.weight_decay
      if decay:  # L2 weight decay as a loss term, on kernels only.
        terms[f"{key}_l2"] = decay * tf.add_n(
            [tf.nn.l2_loss(v) for v in self.variables[key]
             if "kernel" in v.path])
      total = tf.add_n(list(terms.values()))
      scaled = optimizer.scale_loss(total / replicas)
    grads = tape.gradient(scaled, self.variables[key])
    return terms, stats, watched, total, grads

  def _update(self, key, batch, regularize=False):
    optimizer = self.optimizers[key]
    terms, stats, watched, total, grads = self._grads(key, batch, regularize)
    optimizer.apply(grads, self.variables[key])
    out = dict(terms, **stats)
    out[f"{key}_total"] = total
    out["loss_scale"] = tf.cast(precision_lib.loss_scale(optimizer),
                                tf.float32)
    if self.check:
      out.update(numerics.finiteness(dict(terms, **watched), grads))
    return out

  def _d_update(self, batch, regularize):
    out = self._update("d", batch, regularize)
    if self.config.train.gan_loss == "wgan":
      # Weight clipping keeps the critic K-Lipschitz (Arjovsky et al. 2017).
      clip = self.config.train.wgan_clip
      for v in self.variables["d"]:
        v.assign(tf.clip_by_value(v, -clip, clip))
    return out

  def _g_step(self, batch):
    out = self._run(lambda b: self._update("g", b), batch)
    if self.ema_generator is not None:
      self._update_ema()
    return out

  def _update_ema(self):
    """ema = beta * ema + (1 - beta) * w, in cross-replica context.

    Assigning here (not per replica) writes one value to every copy, so the
    EMA weights stay identical across replicas.
    """
    beta = self.config.train.ema_beta
    for ema, w in zip(self.ema_generator.variables, self.generator.variables):
      ema.assign(beta * ema + (1.0 - beta) * tf.cast(w, ema.dtype))

  def _run(self, fn, batch, *args) -> Dict[str, tf.Tensor]:
    """strategy.run, then the replica reduction of every measurement."""
    per_replica = self.strategy.run(fn, args=(batch,) + args)
    return {name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value,
                                       axis=None)
            for name, value in per_replica.items()}

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
