"""The one place where absl flags are defined and turned into a `Config`.

Every field of the config dataclasses becomes a flag of the same name (only
`DataConfig.root` is spelled `--data_root`), with the dataclass default and its
help text, so a flag can never drift from the config it sets; fields that the
run writes itself (`config.flag_fields`) are not flags. The shared sections'
flags serve every task; a family section's (`s2f_tf.config_families`) serve
the tasks whose section holds the field, one flag for all of them. All flags
are optional; entry points mark what they require.
"""

import dataclasses
import os
from typing import Any, Dict, List

from absl import flags

from s2f_tf import config as config_lib
from s2f_tf import config_families as families
from s2f_tf import files

FLAGS = flags.FLAGS

_CHOICES = {
    "sketch_method": config_lib.SKETCH_METHODS,
    "style_source": families.STYLE_SOURCES,
    "gan_loss": config_lib.GAN_LOSSES,
    "precision": config_lib.PRECISIONS,
    "check_numerics": config_lib.CHECK_NUMERICS,
    "strategy": config_lib.STRATEGIES,
    "augment": config_lib.AUGMENTS,
}


def _define(name: str, field: dataclasses.Field, flag_values,
            owners=()) -> None:
  """Defines the flag of one config field, read by `owners` (() for every
  task).

  A family's flags are registered under a heading naming its tasks, so
  `--helpfull` groups them by family ("s2f_tf flags of --task=label2face").
  """
  help_text = field.metadata.get("help", name)
  default = field.default
  if name in _CHOICES:
    flag = flags.EnumFlag(name, default, help_text, list(_CHOICES[name]))
  elif isinstance(default, bool):
    flag = flags.BooleanFlag(name, default, help_text)
  else:
    parser = (flags.IntegerParser() if isinstance(default, int) else
              flags.FloatParser() if isinstance(default, float) else
              flags.ArgumentParser())
    flag = flags.Flag(parser, flags.ArgumentSerializer(), name, default,
                      help_text)
  module = (f"s2f_tf flags of --task={' or '.join(owners)}" if owners
            else "s2f_tf flags of every task")
  flags.DEFINE_flag(flag, flag_values, module_name=module)


def define_config_flags(flag_values=FLAGS) -> None:
  """Defines one flag per config field, the family sections' for every
  registered task (idempotent, so tests may call it, and call it again
  after registering a task)."""
  for name, field in config_lib.shared_flags():
    if name not in flag_values:
      _define(name, field, flag_values)
  for name, field in families.fields_by_name().items():
    if name not in flag_values:
      _define(name, field, flag_values, families.owners(name))


def check_family_flags(flag_values=FLAGS) -> None:
  """Refuses a family's flag set for another task, in one fixable line.

  A flag left at its default is fine (an old run's flags.cfg lists every
  flag); a changed one would be silently ignored by the task, so it is an
  error.
  """
  task = flag_values["task"].value
  for name in families.fields_by_name():
    owners = families.owners(name)
    flag = flag_values[name] if name in flag_values else None
    if (task not in owners and flag is not None and flag.present and
        flag.value != flag.default):
      readers = " or ".join(f"--task={owner}" for owner in owners)
      raise ValueError(f"--{name} is a flag of {readers}; "
                       f"--task={task} does not read it: drop it")


EVAL_FIELDS = ("metrics", "inception", "kid_subset_size", "kid_protocol",
               "cache_real_features")


def define_eval_flags(flag_values=FLAGS) -> None:
  """`s2f-eval`'s flags for what to measure: the TrainConfig fields in
  EVAL_FIELDS, with the same help as in `s2f-train`."""
  for field in dataclasses.fields(config_lib.TrainConfig):
    if field.name in EVAL_FIELDS and field.name not in flag_values:
      _define(field.name, field, flag_values)


def eval_overrides(flag_values=FLAGS) -> Dict[str, Any]:
  """The EVAL_FIELDS given on the command line; the run's config has the
  rest."""
  return {name: flag_values[name].value for name in EVAL_FIELDS
          if flag_values[name].present}


def define_workdir_flag(required: bool = True) -> None:
  if "workdir" not in FLAGS:
    flags.DEFINE_string("workdir", None, "Run directory: checkpoints, "
                        "TensorBoard events, samples, config.json.")
  if required:
    flags.mark_flag_as_required("workdir")


def config_from_flags(flag_values=FLAGS) -> config_lib.Config:
  """Builds the frozen config from parsed flags and validates it.

  An empty `--model` (the task's default) and `--precision=auto` are resolved
  here, so `--dry_run` and `config.json` show the network and the policy the
  run uses.

  Raises:
    ValueError: one fixable line, from the generic or the task's checks.
  """
  # pylint: disable=g-import-not-at-top
  # Both import TensorFlow: only once flags are parsed.
  from s2f_tf import precision as precision_lib
  from s2f_tf import tasks
  # pylint: enable=g-import-not-at-top
  check_family_flags(flag_values)
  parts = {}
  for section, cls in config_lib.SHARED:
    parts[section] = cls(**{
        f.name: flag_values[config_lib.flag_name(section, f.name)].value
        for f in config_lib.flag_fields(cls)
    })
  family = tasks.task_class(parts["model"].task).CONFIG
  # A section registered after the flags were defined has none: no value
  # can have been given for it, so its defaults are the run's.
  parts["family"] = family(**{
      f.name: flag_values[f.name].value
      for f in dataclasses.fields(family) if f.name in flag_values})
  config = tasks.resolve_model(config_lib.Config(**parts))
  tasks.validate(config)  # Before the probe: a bad flag costs no second.
  return precision_lib.resolve_config(config)


def explicit_flag_lines(flag_values=FLAGS) -> List[str]:
  """The run's config flags as `--name=value` lines, ready to be a
  flagfile: every task's, then its family's (not other families')."""
  task = flag_values["task"].value
  names = [name for name, _ in config_lib.shared_flags()] + [
      f.name for f in dataclasses.fields(families.section_class(task))]
  return [flag_values[name].serialize() for name in names
          if name in flag_values]


def write_flagfile(workdir: str, flag_values=FLAGS) -> str:
  """Writes the resolved flags as `flags.cfg`; `--flagfile` replays the run."""
  return files.write_atomically(
      os.path.join(workdir, "flags.cfg"),
      "\n".join(explicit_flag_lines(flag_values)) + "\n")



def define_data_flags() -> None:
  """`s2f-data`'s flags: where to write a face set and how to draw it."""
  flags.DEFINE_string("out", None, "synth: directory to create.")
  flags.DEFINE_enum("style", "photo", ("photo", "anime"),
                    "synth: 'photo' writes the few-shot face set "
                    "(CelebAMask-HQ layout); 'anime' an unpaired photo -> "
                    "anime set (U-GAT-IT layout trainA trainB testA testB, "
                    "with the true other-domain rendering of every test "
                    "image under hidden/).")
  flags.DEFINE_float("test_fraction", 0.2, "synth --style=anime: share of "
                     "the people held out for testA and testB.")
  flags.DEFINE_integer("identities", 200, "synth: people.", lower_bound=1)
  flags.DEFINE_integer("per_identity", 12, "synth: photos per person.",
                       lower_bound=1)
  flags.DEFINE_integer("size", 128, "synth: image size in pixels.",
                       lower_bound=16)
  flags.DEFINE_integer("seed", 0, "synth: seed; same seed, same files.")
  flags.DEFINE_string("root", None, "sketch: face set to draw.")
  flags.DEFINE_enum("method", "xdog", config_lib.SKETCH_METHODS,
                    "Sketch extractor (synth writes its sketches with it "
                    "too).")
  flags.DEFINE_integer("workers", 2, "Threads for drawing and encoding.",
                       lower_bound=1)
