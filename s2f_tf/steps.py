"""The compiled training steps, built once per run.

`TrainSteps` holds three `tf.function`s with input signatures taken from the
dataset's element spec, so they trace exactly once: a discriminator step, the
same step with the lazy R1 regulariser (a separate phase, as in StyleGAN2 /
StyleGAN3, instead of a data-dependent branch), and a generator step. Each
returns a dict of float32 measurements, reduced over replicas; the loop fetches
them only when it needs them.

Every loss is a mean over the replica's batch divided by the replica count,
i.e. a mean over the global batch (`tf.nn.compute_average_loss` semantics),
because replica gradients are summed when they are applied.
"""

from typing import Dict, List

import tensorflow as tf

from s2f_tf import losses
from s2f_tf import numerics
from s2f_tf import precision as precision_lib


def _logits(outputs) -> List[tf.Tensor]:
  return [logits for logits, _ in outputs]


def _features(outputs) -> List[List[tf.Tensor]]:
  return [feats for _, feats in outputs]


class TrainSteps:
  """The D step, the D+R1 step, the G step and a gradients-only function."""

  def __init__(self, config, strategy, generator, discriminator, g_opt, d_opt,
               element_spec):
    self.config = config
    self.strategy = strategy
    self.generator = generator
    self.discriminator = discriminator
    self.g_opt = g_opt
    self.d_opt = d_opt
    self.g_loss_fn, self.d_loss_fn = losses.GAN_LOSSES[config.train.gan_loss]
    self.check = config.train.check_numerics != "off"
    self.variables = self._variables_in_forward_order()
    sig = [element_spec]
    self.d_step = tf.function(lambda b: self._run(self._d_update, b, False),
                              input_signature=sig)
    self.d_step_r1 = tf.function(lambda b: self._run(self._d_update, b, True),
                                 input_signature=sig)
    self.g_step = tf.function(lambda b: self._run(self._g_update, b),
                              input_signature=sig)
    self.gradients = tf.function(self._local_gradients, input_signature=sig)

  def _variables_in_forward_order(self):
    """Trainable variables of each player, in data-flow order (see numerics)."""
    size, k = self.config.data.image_size, self.config.data.k_refs
    sketch = tf.zeros([1, size, size, 1])
    g_inputs = {"sketch": sketch, "refs": tf.zeros([1, k, size, size, 3])}
    d_inputs = (tf.zeros([1, size, size, 3]), sketch)
    return {
        "g": numerics.forward_order(lambda: self.generator(g_inputs),
                                    self.generator.trainable_variables),
        "d": numerics.forward_order(lambda: self.discriminator(d_inputs),
                                    self.discriminator.trainable_variables),
    }

  # Losses ---------------------------------------------------------------

  def _d_terms(self, batch, regularize: bool):
    """(loss terms, measurements, tensors whose finiteness is checked)."""
    t = self.config.train
    sketch, photo = batch["sketch"], batch["photo"]
    fake = tf.stop_gradient(self.generator(
        {"sketch": sketch, "refs": batch["refs"]}, training=True))
    d = lambda image: self.discriminator((image, sketch), training=True)
    terms = {"d_adv": self.d_loss_fn(_logits(d(photo)), _logits(d(fake)))}
    if t.gan_loss == "wgan_gp":
      critic = lambda image: _logits(d(image))
      terms["d_gp"] = t.gp_lambda * losses.wasserstein_gradient_penalty(
          critic, photo, fake)
    if regularize:
      # Lazy regularisation: weight by the interval so the expected
      # penalty per step is unchanged (Karras et al. 2020, arXiv:1912.04958).
      # r1_penalty is already E||grad||^2 / 2.
      terms["d_r1"] = (t.r1_gamma * t.r1_interval *
                       losses.r1_penalty(lambda x: _logits(d(x)), photo))
    # A NaN fake shows up first in the D step; name it, not D's layers.
    return terms, {}, {"generator_output": fake}

  def _g_terms(self, batch):
    t = self.config.train
    sketch, photo = batch["sketch"], batch["photo"]
    style = self.generator.encode_style(batch["refs"], training=True)
    fake = self.generator.generate(sketch, style, training=True)
    # D in inference mode: the G step must not move spectral norm's u.
    fake_out = self.discriminator((fake, sketch), training=False)
    real_out = self.discriminator((photo, sketch), training=False)
    real_feats = tf.nest.map_structure(tf.stop_gradient, _features(real_out))
    terms = {
        "g_adv": self.g_loss_fn(_logits(fake_out)),
        "g_fm": t.lambda_fm * losses.feature_matching_loss(
            real_feats, _features(fake_out)),
        "g_l1": t.lambda_l1 * losses.l1_reconstruction_loss(photo, fake),
    }
    stats = {"output_std": tf.math.reduce_std(tf.cast(fake, tf.float32)),
             "style_std": tf.math.reduce_std(tf.cast(style, tf.float32))}
    return terms, stats, {"generator_output": fake, "style_code": style}

  # Updates --------------------------------------------------------------

  def _grads(self, terms_fn, variables, optimizer):
    replicas = self.strategy.num_replicas_in_sync
    with tf.GradientTape() as tape:
      terms, stats, watched = terms_fn()
      total = tf.add_n(list(terms.values()))
      scaled = optimizer.scale_loss(total / replicas)
    grads = tape.gradient(scaled, variables)
    return terms, stats, watched, total, grads

  def _update(self, terms_fn, key, optimizer, prefix):
    variables = self.variables[key]
    terms, stats, watched, total, grads = self._grads(terms_fn, variables,
                                                      optimizer)
    optimizer.apply(grads, variables)
    out = dict(terms, **stats)
    out[f"{prefix}_total"] = total
    out["loss_scale"] = tf.cast(precision_lib.loss_scale(optimizer),
                                tf.float32)
    if self.check:
      out.update(numerics.finiteness(dict(terms, **watched), grads))
    return out

  def _d_update(self, batch, regularize):
    out = self._update(lambda: self._d_terms(batch, regularize), "d",
                       self.d_opt, "d")
    if self.config.train.gan_loss == "wgan":
      clip = self.config.train.wgan_clip
      for v in self.discriminator.trainable_variables:
        v.assign(tf.clip_by_value(v, -clip, clip))
    return out

  def _g_update(self, batch):
    return self._update(lambda: self._g_terms(batch), "g", self.g_opt, "g")

  def _run(self, fn, batch, *args) -> Dict[str, tf.Tensor]:
    """strategy.run, then the replica reduction of every measurement."""
    per_replica = self.strategy.run(fn, args=(batch,) + args)
    return {name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value,
                                       axis=None)
            for name, value in per_replica.items()}

  def _local_gradients(self, batch):
    """Unapplied gradients of both players on the first replica's batch.

    Used for histograms only, so it is its own (once-traced) function and the
    hot steps never carry gradients out of the graph.
    """
    def grads(b):
      g_grads = self._grads(lambda: self._g_terms(b), self.variables["g"],
                            self.g_opt)[-1]
      d_grads = self._grads(lambda: self._d_terms(b, False),
                            self.variables["d"], self.d_opt)[-1]
      scale_g = precision_lib.loss_scale(self.g_opt)
      scale_d = precision_lib.loss_scale(self.d_opt)
      return ([g / tf.cast(scale_g, g.dtype) for g in g_grads],
              [g / tf.cast(scale_d, g.dtype) for g in d_grads])
    per_replica = self.strategy.run(grads, args=(batch,))
    return tf.nest.map_structure(
        lambda v: self.strategy.experimental_local_results(v)[0], per_replica)

  def variable_paths(self) -> Dict[str, List[str]]:
    return {k: [v.path for v in vs] for k, vs in self.variables.items()}
