"""Tasks by name: the one registry behind `--task`.

A task module defines a `base.Task` subclass; one line in `_BUILTIN` (or a
`register` call, e.g. in a test or a plug-in) makes it trainable, evaluable,
exportable and projectable through every command. Built-in tasks are
imported on first use, so a run pays only for its own family; their config
sections are registered in `s2f_tf.config_families` from the start, and
`register` registers a new task's `CONFIG` there too
(`config.register_family`).
"""

import dataclasses
import importlib
from typing import Dict, Tuple, Type

import keras

from s2f_tf import augment
from s2f_tf import checkpointing
from s2f_tf import config as config_lib
from s2f_tf.metrics import registry
from s2f_tf.tasks import base
from s2f_tf.tasks import objective

_BUILTIN = {
    "sketch2face": "s2f_tf.tasks.few_shot:FewShotTask",
    "unconditional": "s2f_tf.tasks.unconditional:UnconditionalTask",
    "stylegan2": "s2f_tf.tasks.stylegan2:StyleGAN2Task",
    "lightweight": "s2f_tf.tasks.lightweight:LightweightTask",
    "label2face": "s2f_tf.tasks.label2face:Label2FaceTask",
    "unpaired": "s2f_tf.tasks.unpaired:UnpairedTask",
}
_REGISTERED: Dict[str, Type[base.Task]] = {}


def register(name: str, task_class: Type[base.Task]) -> None:
  """Makes `--task=name` build `task_class` and read its `CONFIG` section
  (flags and config.json); a name is registered once.

  Flags defined before this call lack the section's fields until
  `flags.define_config_flags` runs again.
  """
  if name in _BUILTIN or name in _REGISTERED:
    raise ValueError(f"task {name!r} is already registered")
  if not task_class.MODELS:
    raise ValueError(f"task {name!r} lists no MODELS; name its --model "
                     "values, the default first")
  config_lib.register_family(name, task_class.CONFIG)
  _REGISTERED[name] = task_class


def unregister(name: str) -> None:
  """Forgets a task `register` added, and its section: for tests and
  notebooks that define a task for a while. Built-in tasks stay."""
  if name not in _REGISTERED:
    raise ValueError(f"task {name!r} was not registered")
  del _REGISTERED[name]
  config_lib.unregister_family(name)


def names() -> Tuple[str, ...]:
  return tuple(_BUILTIN) + tuple(_REGISTERED)


def task_class(name: str) -> Type[base.Task]:
  """The class registered as `name`; ValueError naming the choices."""
  if name in _REGISTERED:
    return _REGISTERED[name]
  if name not in _BUILTIN:
    raise ValueError(f"--task={name!r} is unknown; use one of "
                     f"{', '.join(names())}")
  module, cls = _BUILTIN[name].split(":")
  return getattr(importlib.import_module(module), cls)


def resolve_model(config: config_lib.Config) -> config_lib.Config:
  """`config` with an empty `--model` set to its task's default (the first of
  its MODELS) and an empty `--metrics` to the task's default metrics, so
  `--dry_run` and config.json name them; else unchanged."""
  cls = task_class(config.model.task)
  if not config.model.model:
    config = dataclasses.replace(config, model=dataclasses.replace(
        config.model, model=cls.MODELS[0]))
  if not config.train.metrics:
    config = dataclasses.replace(config, train=dataclasses.replace(
        config.train, metrics=",".join(cls.default_metrics(config))))
  return config


def metric_choices(config: config_lib.Config) -> Dict[str, str]:
  """The `--metrics` names this run's task offers -> what each measures:
  the task's own measures, then every registered stream evaluator."""
  own = task_class(config.model.task).measures(config)
  shared = registry.stream_metrics()
  clash = sorted(set(own) & set(shared))
  if clash:
    raise ValueError(f"--task={config.model.task} declares measures {clash} "
                     "that name stream evaluators; give them other names")
  return {**own, **shared}


def check_metrics(config: config_lib.Config) -> None:
  """ValueError naming the task's choices when --metrics has another name."""
  choices = metric_choices(config)
  unknown = [m for m in config_lib.metric_names(config.train.metrics)
             if m not in choices]
  if unknown:
    raise ValueError(f"--metrics={config.train.metrics!r} has unknown "
                     f"{unknown}; --task={config.model.task} offers "
                     f"{','.join(choices)}")
  check_inception(config.train)


def check_inception(train_config: config_lib.TrainConfig) -> None:
  """FID/KID asked for by name need a readable Inception file: checked when
  a run starts and when s2f-eval does, not found missing hours later.

  Raises:
    ValueError (`inception.InceptionError`): one line naming the file's
      problem, or the missing --inception, and the standard file.
  """
  t = train_config
  wanted = [m for m in config_lib.metric_names(t.metrics)
            if m in ("fid", "kid")]
  if not wanted:
    return
  # pylint: disable=g-import-not-at-top
  from s2f_tf.metrics import inception
  if not t.inception:
    raise inception.InceptionError(
        f"--metrics={t.metrics!r} asks for "
        f"{' and '.join(m.upper() for m in wanted)}, "
        f"which need --inception=PATH ({inception.STANDARD_FILE}); or drop "
        f"{','.join(wanted)} from --metrics")
  inception.read_graph_def(t.inception)


def validate(config: config_lib.Config) -> None:
  """The generic checks, then the task's own; one fixable line on error."""
  config_lib.validate(config)
  task, model = config.model.task, config.model.model
  if model not in task_class(task).MODELS:
    owners = [name for name in names() if model in task_class(name).MODELS]
    hint = (f"; --model={model} belongs to --task={owners[0]}" if owners
            else f"; use one of {', '.join(task_class(task).MODELS)}")
    raise ValueError(f"--task={task} has no --model={model!r}{hint}")
  check_metrics(config)
  _validate_augment(config.train)
  task_class(task).validate(config)
  if config.train.shared_generator_pass:
    _validate_shared_pass(config)


def _validate_augment(train_config: config_lib.TrainConfig) -> None:
  """DiffAugment's policy names, no setting of the augmentation not run,
  and a loss with a decision threshold for ADA's sign(D(real))."""
  t = train_config
  if t.augment == "diffaug":
    augment.parse_policy(t.augment_policy)
  # A setting of the other kind (or of none) would be silently ignored.
  default = config_lib.TrainConfig()
  readers = {"augment_policy": "diffaug", "ada_target": "ada",
             "ada_interval": "ada", "ada_kimg": "ada"}
  for name, reader in readers.items():
    value = getattr(t, name)
    if t.augment != reader and value != getattr(default, name):
      raise ValueError(f"--{name}={value} is read by --augment={reader} "
                       f"only; add --augment={reader} or drop it")
  if t.augment == "ada" and t.gan_loss not in objective.DECISION_THRESHOLDS:
    raise ValueError(
        f"--augment=ada steers by the sign of D(real), which a "
        f"--gan_loss={t.gan_loss} critic does not have (its output is "
        f"defined up to a constant); use --gan_loss="
        f"{' or '.join(objective.DECISION_THRESHOLDS)}, or --augment=diffaug")


def _validate_shared_pass(config: config_lib.Config) -> None:
  """The shared step needs the task's generator pass, and has no lazily
  regularising variant (separate compiled functions in the alternating
  steps)."""
  cls = task_class(config.model.task)
  if not cls.shares_generator_pass():
    raise ValueError(f"--task={config.model.task} does not share its "
                     "generator pass; drop --shared_generator_pass")
  lazy = cls(config).lazy_intervals()
  if lazy.d or lazy.g:
    raise ValueError(
        "--shared_generator_pass has no lazy-regularisation phase, but this "
        f"run regularises lazily (D every {lazy.d}, G every {lazy.g} steps; "
        "0: never); turn those off (D: --r1_gamma=0 --r2_gamma=0) or drop "
        "--shared_generator_pass")


def make_task(config: config_lib.Config) -> base.Task:
  return task_class(config.model.task)(config)


def restore(workdir: str, prefer_ema: bool = True
            ) -> Tuple[base.Task, keras.Model, int]:
  """(task, generator, step) of the run in `workdir`, for the tools.

  The task comes from the run's config.json, the generator's weights from
  its latest checkpoint (the EMA weights when kept and `prefer_ema`).
  """
  task = make_task(config_lib.load_config(workdir))
  generator, step = checkpointing.restore_generator(
      workdir, task.build_generator, prefer_ema=prefer_ema)
  return task, generator, step
