"""The compiled training steps, built once per (phase, step kind).

`TrainSteps` holds `tf.function`s with input signatures taken from the
dataset's element spec, so each traces exactly once. The task declares the
run's phases (`Task.phases`: which iterations, which variables are frozen,
whether the players share one generator pass); for each phase the loop asks
for a kind of step, compiled on first use: a discriminator step, a
generator step that also updates the EMA generator, the same steps in their
lazy-regularisation variant (separate functions, as Karras et al. 2020,
arXiv:1912.04958, run lazy regularisation, rather than a data-dependent
branch), a step that updates both
players from one generator forward pass, and a gradients-only function for
histograms. Each player's update returns a `StepResult` of float32 tensors
reduced over replicas (the shared step a (D, G) pair); the loop fetches its
one fused finiteness flag every step and the measurements only when it logs.

What the losses are comes from the task (`s2f_tf.tasks`), with a
`StepContext` holding the run's step as a tensor; the optimizers and what
follows an update (a constraint) come from the task too. Measurements are
named by player, "d/<term>" and "g/<term>". Every loss is a mean over the
replica's batch, divided here by the replica count, i.e. a mean over the
global batch (`tf.nn.compute_average_loss` semantics), because replica
gradients are summed when they are applied.
"""

import dataclasses
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import tensorflow as tf

from s2f_tf import numerics
from s2f_tf import precision as precision_lib
from s2f_tf.tasks import base


class StepResult(NamedTuple):
  """What one player's step returns (a NamedTuple, so tf.function can).

  Attributes:
    measurements: loss terms, the player's total and the task's scalars,
      named "<player>/<name>" ("d/adv", "g/total").
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
  """The players' steps per phase (plain, lazily regularised, shared) and
  gradients, compiled on first use.

  Step kinds: "d_step", "d_step_reg", "g_step", "g_step_reg",
  "shared_step" and "gradients"; a compiled step is named
  "<phase>/<kind>" for the retrace guard.
  """

  KINDS = ("d_step", "d_step_reg", "g_step", "g_step_reg", "shared_step",
           "gradients")

  def __init__(self, config, strategy, task, generator, discriminator,
               optimizers: Dict[str, object], element_spec,
               step: tf.Variable, ema_generator=None):
    self.config = config
    self.strategy = strategy
    self.task = task
    self.generator = generator
    self.discriminator = discriminator
    self.ema_generator = ema_generator
    self.optimizers = dict(optimizers)
    self.step = step  # The run's iteration counter, read inside the steps.
    self.check = config.train.check_numerics != "off"
    g_forward, d_forward = task.dummy_forwards(generator, discriminator)
    self.variables = {
        "g": numerics.forward_order(g_forward, generator.trainable_variables),
        "d": numerics.forward_order(d_forward,
                                    discriminator.trainable_variables),
    }
    self.lazy = task.lazy_intervals()
    self.phases = tuple(task.phases())
    base.check_phases(self.phases, config.train.steps,
                      [v.path for vs in self.variables.values() for v in vs])
    # What each phase trains: every variable but the frozen prefixes, in
    # data-flow order (the numerics guard's "first bad layer").
    self.trained = {
        p.name: {key: [v for v in vs if not v.path.startswith(p.frozen)]
                 for key, vs in self.variables.items()}
        for p in self.phases}
    self.signature = [element_spec]
    self._functions = {}

  def phase(self, which: Union[None, int, str, base.Phase] = None
            ) -> base.Phase:
    """The phase of iteration `which` (an int), named `which`, or (None)
    the one the run's step variable is in."""
    if isinstance(which, base.Phase):
      return which
    if isinstance(which, str):
      for p in self.phases:
        if p.name == which:
          return p
      raise ValueError(f"no phase is named {which!r}; the task declares "
                       f"{', '.join(p.name for p in self.phases)}")
    step = int(self.step.numpy()) if which is None else which
    for p in self.phases:
      if p.start <= step < p.stop:
        return p
    return self.phases[-1]  # Past --steps: the last phase.

  def function(self, kind: str, phase=None):
    """The compiled step `kind` (one of KINDS) of `phase` (as `phase()`
    takes it); traced on its first call."""
    phase = self.phase(phase)
    key = (phase.name, kind)
    if key not in self._functions:
      self._functions[key] = self._build(kind, phase)
    return self._functions[key]

  def named(self, kind: str, phase=None):
    """(name, function) of `function(kind, phase)`, for the retrace guard."""
    phase = self.phase(phase)
    return f"{phase.name}/{kind}", self.function(kind, phase)

  def step_for(self, key: str, index: int, phase=None):
    """(name, function) of player `key`'s step number `index` (from 0):
    the lazily regularising variant every `lazy_intervals()` steps."""
    interval = getattr(self.lazy, key)
    reg = "_reg" if interval and index % interval == 0 else ""
    return self.named(f"{key}_step{reg}", phase)

  def _build(self, kind: str, phase: base.Phase):
    if kind not in self.KINDS:
      raise ValueError(f"step kind {kind!r} is unknown; use one of "
                       f"{', '.join(self.KINDS)}")
    if kind == "gradients":
      return tf.function(lambda b: self._local_gradients(b, phase),
                         input_signature=self.signature, autograph=False)
    if kind == "shared_step":
      return self._compile(lambda b: self._shared_update(b, phase), ema=True)
    key, regularize = kind[0], kind.endswith("_reg")
    return self._compile(lambda b: self._update(key, b, phase, regularize),
                         ema=key == "g")

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
    # autograph=False: every branch of a step is Python-level (phase,
    # regularize, the loss choice) or an explicit tf.cond/tf.where, so
    # AutoGraph would only re-parse the sources, which halved the time to
    # trace the tiny few-shot D and G steps (8.6 s -> 4.7 s, Zen 3).
    return tf.function(step, input_signature=self.signature,
                       jit_compile=self.config.train.jit_compile,
                       autograph=False)

  def _context(self, phase, regularize=False, generated=None):
    return base.StepContext(step=tf.convert_to_tensor(self.step),
                            regularize=regularize, generated=generated,
                            phase=phase.name)

  def _terms(self, key, batch, context) -> base.LossTerms:
    losses_of = self.task.d_terms if key == "d" else self.task.g_terms
    out = losses_of(self.generator, self.discriminator, batch, context)
    if key == "d":  # The task's state (ADA's p), read in the step.
      out = dataclasses.replace(out, measurements={
          **out.measurements, **self.task.state_measurements()})
    self._check_names(key, out)
    return out

  def _check_names(self, key, out) -> None:
    """At trace time: one name per value within a player."""
    seen = {"total": "the player's total"}
    if self.config.train.weight_decay:
      seen["l2"] = "weight decay (--weight_decay)"
    for what, names in (("loss term", out.terms),
                        ("measurement", out.measurements),
                        ("watched tensor", out.watched)):
      for name in names:
        if name in seen:
          raise ValueError(
              f"--task={self.config.model.task}'s {key}_terms names "
              f"{key}/{name} both as {seen[name]} and as a {what}; rename "
              "one")
        seen[name] = f"a {what}"

  def _loss(self, key, out, variables):
    """(terms with weight decay, total, the scaled per-replica loss)."""
    terms = dict(out.terms)
    decay = self.config.train.weight_decay
    kernels = [v for v in variables if "kernel" in v.path]
    if decay and kernels:  # L2 weight decay as a loss term, on kernels only.
      terms["l2"] = decay * tf.add_n([tf.nn.l2_loss(v) for v in kernels])
    total = tf.add_n(list(terms.values()))
    replicas = self.strategy.num_replicas_in_sync
    return terms, total, self.optimizers[key].scale_loss(total / replicas)

  def _grads(self, key, batch, context, variables):
    with tf.GradientTape() as tape:
      out = self._terms(key, batch, context)
      terms, total, scaled = self._loss(key, out, variables)
    grads = tape.gradient(scaled, variables)
    return terms, out, total, grads

  def _update(self, key, batch, phase, regularize) -> StepResult:
    context = self._context(phase, regularize)
    return self._apply(key, phase, *self._grads(
        key, batch, context, self.trained[phase.name][key]))

  def _shared_update(self, batch, phase) -> Tuple[StepResult, StepResult]:
    """One G forward for both players (a `shared_pass` phase).

    The generator's tape records the pass, pauses while D trains on the
    fake (the task stops its gradient), then records G's terms against the
    updated D: the same updates as a D step and then a G step on this
    batch, for one G forward less.
    """
    trained = self.trained[phase.name]
    with tf.GradientTape() as tape:
      generated = self.task.generator_pass(self.generator, batch)
      context = self._context(phase, generated=generated)
      with tape.stop_recording():
        d = self._apply("d", phase, *self._grads("d", batch, context,
                                                  trained["d"]))
      out = self._terms("g", batch, context)
      terms, total, scaled = self._loss("g", out, trained["g"])
    grads = tape.gradient(scaled, trained["g"])
    return d, self._apply("g", phase, terms, out, total, grads)

  def _apply(self, key, phase, terms, out, total, grads) -> StepResult:
    """Applies one player's gradients to what `phase` trains; its
    StepResult, every value named "<key>/<name>"."""
    optimizer, variables = self.optimizers[key], self.trained[phase.name][key]
    optimizer.apply(grads, variables)
    self.task.after_update(key, variables)
    named = lambda values: {f"{key}/{n}": v for n, v in values.items()}
    measurements = named(dict(terms, **out.measurements))
    measurements[f"{key}/total"] = total
    if self.check:
      fused, finite_terms, finite_grads = numerics.finiteness(
          named(dict(terms, **out.watched)), grads)
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

  def _local_gradients(self, batch, phase):
    """Unapplied, unscaled gradients of both players' variables (frozen
    ones too) on one replica's batch.

    Used for histograms only, so it is its own (once-traced) function and the
    hot steps never carry gradients out of the graph.
    """
    def grads(b):
      out = []
      for key in ("g", "d"):
        scale = precision_lib.loss_scale(self.optimizers[key])
        out.append([g / tf.cast(scale, g.dtype) for g in self._grads(
            key, b, self._context(phase), self.variables[key])[-1]])
      return tuple(out)
    per_replica = self.strategy.run(grads, args=(batch,))
    return tf.nest.map_structure(
        lambda v: self.strategy.experimental_local_results(v)[0], per_replica)

  def variable_paths(self, phase: Optional[base.Phase] = None
                     ) -> Dict[str, List[str]]:
    """Each player's variable paths in data-flow order: the ones `phase`
    trains (the order of a step's `finite_grads`), or (None) all."""
    variables = (self.variables if phase is None
                 else self.trained[self.phase(phase).name])
    return {k: [v.path for v in vs] for k, vs in variables.items()}
