"""The task interface: the one seam between a model family and the toolkit.

A task owns everything that differs between model families: its data, its
networks, the loss terms of each player, how it samples, what its grid shows,
how it is evaluated, served and embedded. The compiled steps, the loop,
evaluation, export and the projector call a `Task` and nothing else, so a new
family is one module with a `Task` subclass plus one line in the registry
(`s2f_tf.tasks`), and gets the numerics guard, retrace guard, checkpoints,
EMA, summaries and `tf.distribute` for free.

Training progress reaches the task three ways: every loss term gets a
`StepContext` (the step index as a tensor, so no retrace), `after_step`
runs between iterations, and `phases` declares which variables the players
train at which steps (StyleGAN3 lists its phases the same way).

Every task gets --augment (DiffAugment, ADA; docs/augment.md) from here:
its terms pass each input of D through `augment` (or `augment_alike`) and
D's logits on the reals to `observe_real`; the state ADA adapts is built by
`build_state`, updated by `after_step` and logged by `state_measurements`.
"""

import abc
import collections.abc
import dataclasses
from typing import Any, Callable, Dict, Iterator, Sequence, Tuple, Type

import keras
import numpy as np
import tensorflow as tf

from s2f_tf import ada
from s2f_tf import augment as augment_lib
from s2f_tf import config as config_lib
from s2f_tf import config_families
from s2f_tf.metrics import registry
from s2f_tf.serving import signatures as sig
from s2f_tf.tasks import objective

Batch = Dict[str, tf.Tensor]
# A sampler returns the image, or a dict of it ("image") and auxiliary maps.
Sampler = Callable[..., object]
Stream = Iterator[Tuple[np.ndarray, np.ndarray]]
# The name of a task's only stream: its results stay at eval.json's top.
DEFAULT_STREAM = ""


@dataclasses.dataclass(frozen=True)
class LossTerms:
  """What a player's loss function returns.

  Names are bare ("adv", "l1"): the steps log them under the player
  ("d/adv", "g/l1"). A name used twice within a player (a term and a
  measurement, or the reserved "total" and, with --weight_decay, "l2") is a
  ValueError when the step is traced.

  Attributes:
    terms: weighted float32 scalar loss terms; their sum is the player's loss
      and each is logged under its name.
    measurements: extra float32 scalars for TensorBoard (e.g. output std).
    watched: tensors whose finiteness the numerics check reports by name
      (e.g. the generator output), beside the terms and every gradient.
  """

  terms: Dict[str, tf.Tensor]
  measurements: Dict[str, tf.Tensor] = dataclasses.field(default_factory=dict)
  watched: Dict[str, tf.Tensor] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LazyIntervals:
  """Every how many steps each player's lazy regularisers run; 0: never.

  The loop calls the player's regularising step (a separate compiled
  function, as in StyleGAN2) when its step index is a multiple.
  """

  d: int = 0
  g: int = 0


@dataclasses.dataclass(frozen=True)
class StepContext:
  """What a player's loss terms know of the training run.

  Attributes:
    step: int64 scalar tensor, the iteration index from 0, read from the
      run's step variable inside the compiled step: it changes without a
      retrace (schedules, warm-ups, adaptive augmentation).
    regularize: Python bool, the lazy-regularisation variant of the step.
    generated: `generator_pass`'s output in a shared-pass phase (D must
      stop its gradient); None: the terms run G themselves.
    phase: the `Phase` name, a Python str (a trace per phase).
  """

  step: tf.Tensor
  regularize: bool = False
  generated: Any = None
  phase: str = "train"


@dataclasses.dataclass(frozen=True)
class Phase:
  """Iterations [start, stop) of a run, trained one way.

  Attributes:
    name: unique among the task's phases; names its compiled steps.
    start: first iteration (from 0).
    stop: first iteration after the phase.
    frozen: variable path prefixes ("generator/global/") no player trains
      here: they get no gradient, no optimizer update and no weight decay,
      so they stay bit-for-bit unchanged. State a forward pass moves
      (batch-norm statistics, spectral norm's u) is the terms' to keep:
      they call a frozen network with training=False.
    shared_pass: one generator forward pass per iteration for both players
      (`Task.generator_pass`) instead of alternating D and G steps.
  """

  name: str
  start: int
  stop: int
  frozen: Tuple[str, ...] = ()
  shared_pass: bool = False


@dataclasses.dataclass(frozen=True)
class Embedding:
  """One embedding for the projector: N points with metadata and thumbnails."""

  values: np.ndarray  # float32 [N, D].
  metadata: Dict[str, np.ndarray]  # column name -> [N].
  images: np.ndarray  # uint8 [N, S, S, 3] thumbnails.


class Task(abc.ABC):
  """A model family on the shared loop. Subclasses set MODELS.

  Attributes:
    CONFIG: the family's config section, a frozen dataclass subclassing
      `config_families.FamilyConfig`: the settings only this family reads.
      The run's instance is `config.family`, config.json keeps it under the
      task's name, and each field is a flag accepted only with the tasks
      whose section holds it. Tasks that share settings share a base
      section (`TranslationConfig`, `NoiseConfig`); the default has none.
    MODELS: the `--model` values this task builds; the first is its default,
      what an empty `--model` (`--task` alone) resolves to.
    EMBEDDINGS: the `s2f-project --features` it can export.
    MEASURES: its own `--metrics` names (computed by `evaluate`) -> one
      line on what each measures; beside them every task offers the stream
      evaluators of `s2f_tf.metrics.registry` (swd, fid, kid).
  """

  CONFIG: Type[config_families.FamilyConfig] = config_families.FamilyConfig
  MODELS: Tuple[str, ...] = ()
  EMBEDDINGS: Tuple[str, ...] = ()
  MEASURES: Dict[str, str] = {}

  def __init__(self, config: config_lib.Config):
    config_lib.check_family(config, self.CONFIG)
    self.config = config
    self._ada = None  # ADA's state, made by `build_state`.

  @classmethod
  def validate(cls, config: config_lib.Config) -> None:
    """Raises ValueError (one fixable line) on a config this task can't run.

    Runs before anything is built, after `s2f_tf.tasks.validate` has checked
    the generic fields and that --model is one of MODELS. Subclasses extend
    it with their own checks.
    """
    del config

  # Data and models --------------------------------------------------------

  @abc.abstractmethod
  def make_dataset(self) -> tf.data.Dataset:
    """Endless global batches: dicts of tensors with static shapes."""

  @abc.abstractmethod
  def build_generator(self) -> keras.Model:
    """A new, built generator (also the EMA copy, and the tools' model).

    Name every layer: checkpoints key weights by their paths, and Keras's
    automatic names ("dense_3") change with what was built before.
    """

  @abc.abstractmethod
  def build_discriminator(self) -> keras.Model:
    """A new discriminator."""

  @abc.abstractmethod
  def dummy_forwards(self, generator, discriminator
                     ) -> Tuple[Callable[[], object], Callable[[], object]]:
    """Zero-input forward passes of G and D, for data-flow variable order."""

  # Objectives ------------------------------------------------------------

  def lazy_intervals(self) -> LazyIntervals:
    """D runs R1/R2 every r1_interval steps when either is on."""
    t = self.config.train
    return LazyIntervals(d=t.r1_interval if t.r1_gamma or t.r2_gamma else 0)

  def phases(self) -> Tuple[Phase, ...]:
    """The run's phases, in order, covering iterations [0, --steps).

    One phase by default; with --shared_generator_pass the first
    --shared_pass_steps iterations (all of them when 0) share the generator
    pass and alternating steps take over after them.
    """
    t = self.config.train
    if not t.shared_generator_pass:
      return (Phase("train", 0, t.steps),)
    until = t.shared_pass_steps or t.steps
    shared = Phase("shared", 0, until, shared_pass=True)
    return (shared,) if until == t.steps else (
        shared, Phase("train", until, t.steps))

  @abc.abstractmethod
  def d_terms(self, generator, discriminator, batch: Batch,
              context: StepContext) -> LossTerms:
    """The discriminator's loss terms on one replica's batch.

    `context.generated` is `generator_pass`'s output in a shared-pass
    phase (D must stop its gradient); None: the task runs G itself.
    """

  @abc.abstractmethod
  def g_terms(self, generator, discriminator, batch: Batch,
              context: StepContext) -> LossTerms:
    """The generator's loss terms; `context` as in `d_terms`.

    D should run with training=False where it has state (spectral norm's u)
    that the G step must not move.
    """

  def after_step(self, step: int, generator, discriminator) -> None:
    """Runs on the host after iteration `step` (from 0) of the loop.

    For state the terms read as tf.Variables and the host updates (ADA's
    augmentation probability, a schedule): assigning a variable retraces
    nothing. Default: with --augment=ada, p's update every --ada_interval
    iterations (a device-to-host read of two sums); an override calls it.
    """
    del generator, discriminator
    interval = self.config.train.ada_interval
    if self._ada is not None and (step + 1) % interval == 0:
      self._ada.update()

  # Augmenting what D sees ----------------------------------------------------

  def build_state(self) -> Dict[str, tf.Variable]:
    """Training state beside the players', by checkpoint key.

    Called once, under the strategy's scope, before the steps trace. With
    --augment=ada: ADA's probability p ("ada_p"), which a resumed run
    continues from. Default: {} otherwise.
    """
    t = self.config.train
    if t.augment != "ada":
      return {}
    self._ada = ada.AdaptiveProbability(t.ada_target, t.ada_kimg * 1000)
    return {"ada_p": self._ada.p}

  def _adaptive(self) -> ada.AdaptiveProbability:
    if self._ada is None:
      raise RuntimeError("--augment=ada reads p from Task.build_state; call "
                         "it under the strategy's scope before the steps")
    return self._ada

  def augment(self, d_input):
    """D's input as --augment transforms it (unchanged with none).

    `d_input` is an image batch [B, S, S, 3] on [-1, 1], or a tuple of it
    and maps aligned with it (a sketch, a one-hot label map), which move
    with the image and are never recoloured. Call it on every input of D,
    real and fake, in D's and G's steps (the papers' recipe), inside D's
    logits function so that R1 and the gradient penalty differentiate
    through it (as StyleGAN2-ADA). Each call draws fresh parameters.
    """
    return self.augment_alike(d_input)[0]

  def augment_alike(self, *d_inputs) -> Tuple:
    """`augment` with one draw of parameters for all `d_inputs` (same
    batch size): a fake and its real target whose D features a
    feature-matching loss compares must move alike."""
    t = self.config.train
    if t.augment == "none":
      return d_inputs
    parts = [x if isinstance(x, tuple) else (x,) for x in d_inputs]
    image = parts[0][0]
    batch, size = tf.shape(image)[0], image.shape[1]
    out = []
    # One scope: --check_numerics=full names "augment" for a NaN made here.
    with tf.name_scope("augment"):
      if t.augment == "diffaug":
        params = augment_lib.draw_params(
            augment_lib.parse_policy(t.augment_policy), batch, size)
        apply = augment_lib.diff_augment
      else:
        params = ada.draw_values(self._adaptive().p, batch, size)
        apply = ada.ada_augment
      for x, (first, *maps) in zip(d_inputs, parts):
        image, maps = apply(first, params, maps)
        out.append((image, *maps) if isinstance(x, tuple) else image)
    return tuple(out)

  def observe_real(self, logits, gan_loss: str = "") -> None:
    """Inside D's step: D's logits on the (augmented) reals, for ADA's
    overfitting heuristic sign(D(real)); `gan_loss` (default --gan_loss)
    sets the decision threshold. A no-op without --augment=ada."""
    if self.config.train.augment == "ada":
      self._adaptive().observe(logits, objective.DECISION_THRESHOLDS[
          gan_loss or self.config.train.gan_loss])

  def state_measurements(self) -> Dict[str, tf.Tensor]:
    """Scalars of `build_state`'s state, logged with D's measurements:
    with --augment=ada ADA's p as "augment_probability" (TensorBoard's
    train/d/augment_probability; the report plots it as a measurement)."""
    if self._ada is None:
      return {}
    return {"augment_probability": tf.identity(self._ada.p)}

  def make_optimizers(self) -> Dict[str, keras.optimizers.Optimizer]:
    """{"g": ..., "d": ...}: each player's optimizer, under the strategy's
    scope. Default: the objective's (`objective.make_optimizer`)."""
    return {p: objective.make_optimizer(self.config, p) for p in ("g", "d")}

  def after_update(self, player: str, variables) -> None:
    """Inside the compiled step, after `player` ("g" or "d") applied its
    gradients to `variables` (the ones this phase trains). Default: the
    objective's constraint (WGAN's weight clipping)."""
    objective.constrain(self.config, player, variables)

  def generator_pass(self, generator, batch: Batch):
    """G's training forward pass on `batch`, for a shared-pass phase.

    pix2pix-style training (Isola et al. 2017, arXiv:1611.07004) makes one
    fake per iteration and trains both players on it: the shared step runs
    this once on the generator's tape and hands the result (any nest of
    tensors the task's terms read) to `d_terms`, then, after D's update, to
    `g_terms`, as `context.generated`. That saves the second G forward of
    alternating steps, 22% of an iteration's arithmetic in the few-shot
    demo. A task opts in by overriding this; `s2f_tf.tasks.validate`
    refuses the flag for the others.
    """
    del generator, batch
    raise NotImplementedError(f"--task={self.config.model.task} does not "
                              "share its generator pass")

  @classmethod
  def shares_generator_pass(cls) -> bool:
    """Whether the task overrides `generator_pass` (its one opt-in)."""
    return cls.generator_pass is not Task.generator_pass

  # Samples and monitoring --------------------------------------------------

  @abc.abstractmethod
  def make_sampler(self, generator) -> tf.types.experimental.GenericFunction:
    """generator inputs -> output: a tf.function traced once.

    The output is the [-1, 1] images, or a dict of them ("image") and
    auxiliary maps [B, H, W, 1] (e.g. CAM "attention"); `sampled_image`
    and `auxiliary_maps` read either.
    """

  @abc.abstractmethod
  def sample_grid(self, sample: Sampler) -> np.ndarray:
    """The uint8 picture of the same fixed inputs at every call.

    The task owns the grid's inputs (and targets); `sample` is the run's
    sampler (or a guarded wrapper of it).
    """

  def collapse_signals(self) -> Dict[str, str]:
    """Measurement name ("g/output_std") -> what it is, for the collapse
    monitor."""
    return {"g/output_std": "generator output"}

  # Evaluation, serving, projector -------------------------------------------

  @classmethod
  def measures(cls, config: config_lib.Config) -> Dict[str, str]:
    """The own `--metrics` names this run offers; MEASURES by default.

    A task overrides it when a measure needs a setting (e.g. a model
    option), so that asking for it without one fails at validation.
    """
    del config
    return dict(cls.MEASURES)

  @classmethod
  def default_metrics(cls, config: config_lib.Config) -> Tuple[str, ...]:
    """What an empty `--metrics` measures: every own measure, then the
    registry's defaults (swd)."""
    return tuple(cls.measures(config)) + registry.DEFAULTS

  def evaluate(self, sample: Sampler, max_examples: int,
               names: Sequence[str]) -> Dict:
    """The own measures in `names` (some of `measures`), as a nested dict
    of floats; the evaluation calls it only when `names` has one."""
    del sample, max_examples, names
    return {}

  @abc.abstractmethod
  def eval_streams(self, sample: Sampler, count: int, batch_size: int
                   ) -> Dict[str, Stream]:
    """Stream name -> (real, generated) uint8 [b, S, S, 3] batches, `count`
    images in all per stream.

    What the stream evaluators (SWD, FID, KID) compare, each stream apart:
    a two-direction model returns e.g. "a2b" and "b2a", whose results
    eval.json keeps under those names; a task with one stream names it
    DEFAULT_STREAM. Return generators: the evaluation reads one stream
    after another, so no metric needs every image in memory.
    """

  @abc.abstractmethod
  def export_module(self, generator) -> tf.Module:
    """A `serving.ExportModule` with this family's signatures."""

  def image_to_image(self, generator, signature: str
                     ) -> Tuple[Callable, np.ndarray]:
    """(float32 [1, S, S, 3] -> [1, S, S, 3] on [-1, 1], held-out uint8
    inputs [N, S, S, 3]) of `signature`, for a TFLite model
    (`serving.tflite`); only tasks that translate one image have one."""
    del generator, signature
    raise ValueError(f"--tflite converts a model that turns one image into "
                     f"another (--task=unpaired's a2b, b2a); "
                     f"--task={self.config.model.task} has none")

  def embeddings(self, generator, split: str, max_points: int,
                 features: Sequence[str]) -> Dict[str, Embedding]:
    """Projector embeddings named in `features` (a subset of EMBEDDINGS)."""
    del generator, split, max_points, features
    raise ValueError(f"--task={self.config.model.task} has no embeddings to "
                     "project")

  # Serving from files -------------------------------------------------------

  def serving_inputs(self, signature: str = "serving_default"
                     ) -> Tuple[sig.InputFile, ...]:
    """The files that feed `signature` (`s2f-sample`'s), one or more per
    input; () where no file can (noise or float codes in): the default."""
    del signature
    return ()

  def serving_values(self, signature: str = "serving_default"
                     ) -> Tuple[sig.InputValue, ...]:
    """The inputs of `signature` set from numbers (a noise seed, psi);
    () where files (or nothing a user sets) feed it: the default."""
    del signature
    return ()

  def load_serving_inputs(self, files: sig.Files,
                          signature: str = "serving_default"
                          ) -> Dict[str, np.ndarray]:
    """{flag: path(s)} -> `signature`'s inputs, uint8 batches of 1.

    Checks the files given against `serving_inputs` (`sig.check_files`: one
    line naming the flags to pass or drop), then reads each by its kind.
    `files` holds every file flag the caller has, None where not given.
    Override where inputs must be read together (label2face's references,
    each under its own map).

    Raises:
      ValueError: files this signature does not read, or not the ones it
        needs.
      decode.BadFile: the first file that is missing or unreadable.
    """
    return sig.load_files(self.serving_inputs(signature), files,
                          self.config.model.task, signature,
                          self.config.data.image_size)


def sampled_image(output):
  """The image of a sampler's output: the output itself, or its "image"."""
  if not isinstance(output, collections.abc.Mapping):
    return output
  if "image" not in output:
    raise ValueError(f"a sampler's dict output needs an 'image'; it has "
                     f"{sorted(output)}")
  return output["image"]


def auxiliary_maps(output) -> Dict[str, np.ndarray]:
  """A sampler's maps beside its image (e.g. "attention"), by name; {} when
  it returns the image alone."""
  if not isinstance(output, collections.abc.Mapping):
    return {}
  return {name: np.asarray(value) for name, value in sorted(output.items())
          if name != "image"}


def output_std(images: tf.Tensor) -> tf.Tensor:
  """Batch std of generated images: near 0 means a constant output."""
  return tf.math.reduce_std(tf.cast(images, tf.float32))


def check_phases(phases: Sequence[Phase], steps: int,
                 variable_paths: Sequence[str]) -> None:
  """Raises ValueError (one line) unless `phases` tile [0, steps) in order,
  with unique names and frozen prefixes that each match some variable."""
  if not phases:
    raise ValueError("the task declares no phases; return at least one "
                     f"Phase covering [0, {steps})")
  names = [p.name for p in phases]
  for name in names:
    if names.count(name) > 1:
      raise ValueError(f"phase name {name!r} is used twice; name each phase "
                       "once")
  expected = 0
  for p in phases:
    if p.start != expected or p.stop < p.start:
      raise ValueError(
          f"phase {p.name!r} covers [{p.start}, {p.stop}) but must start at "
          f"{expected} and stop no earlier: phases tile [0, --steps={steps}) "
          "in order, without gaps or overlaps")
    expected = p.stop
    for prefix in p.frozen:
      if not any(path.startswith(prefix) for path in variable_paths):
        raise ValueError(
            f"phase {p.name!r} freezes {prefix!r}, which no variable's path "
            "starts with; use a prefix such as 'generator/<network>/'")
  if expected != steps:
    raise ValueError(f"the phases end at {expected}, not at --steps={steps}; "
                     "the last phase must stop at --steps")
