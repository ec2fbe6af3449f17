"""Frozen configuration dataclasses: the one description of a run.

Library code takes a `Config`, never reads absl FLAGS, so every test can build
what it needs with `tiny_config()` and `dataclasses.replace`. The CLI builds a
`Config` once from flags (`s2f_tf.flags.config_from_flags`) and writes it into
the workdir as `config.json`, from which `s2f-eval`, `s2f-export` and
`s2f-project` rebuild the exact same networks.

Three sections are shared (data, model, train); the fourth, `family`, is the
run's task's own section (`s2f_tf.config_families`), which config.json keeps
under the task's name.
"""

import dataclasses
import json
import os
from typing import Any, Dict, Tuple

from s2f_tf import config_families as families
from s2f_tf import files

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
KID_PROTOCOLS = ("subsets", "blocks")
GAN_LOSSES = ("hinge", "non_saturating", "lsgan", "wgan", "wgan_gp")
SKETCH_METHODS = ("xdog", "canny", "mask_edges", "mask_edges+xdog")
CHECK_NUMERICS = ("off", "grads", "full")
STRATEGIES = ("default", "mirrored", "multiworker")
AUGMENTS = ("none", "diffaug", "ada")


_FLAG_NAMES = {("data", "root"): "data_root"}


def flag_name(section: str, field: str) -> str:
  """The flag that sets `section.field` (the field's name but for root)."""
  return _FLAG_NAMES.get((section, field), field)


def flag_fields(cls) -> Tuple[dataclasses.Field, ...]:
  """The fields of a config section that are flags: all but those the run
  writes itself (metadata flag=False, e.g. what --precision=auto measured)."""
  return tuple(f for f in dataclasses.fields(cls)
               if f.metadata.get("flag", True))


_field = families.field  # Its help text becomes the flag's help.


MIN_IMAGE_SIZE = 16
# CelebAMask-HQ's photos; pix2pixHD trains at 512 and 1024 px. A model with
# a lower limit says so in its task's validate (sketch2face: 256).
MAX_IMAGE_SIZE = 1024

@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Where the faces come from and how episodes are shaped."""

  root: str = _field("data/synth_faces", "CelebAMask-HQ layout on disk.")
  synthesize: bool = _field(True, "Generate the synthetic set at `root` if missing.")
  synth_identities: int = _field(200, "Synthetic set: number of people.")
  synth_per_identity: int = _field(12, "Synthetic set: photos per person.")
  synth_size: int = _field(128, "Synthetic set: stored image size in pixels.")
  synth_seed: int = _field(0, "Synthetic set: seed; same seed, same files.")
  identity_file: str = _field("", "Empty: `root/identity_CelebA.txt`.")
  image_size: int = _field(64, "Training resolution (square).")
  k_refs: int = _field(3, "Reference photos of the target's identity per episode.")
  sketch_method: str = _field("xdog", "One of SKETCH_METHODS.")
  heldout_fraction: float = _field(0.1, "Identities never seen in training.")
  split_seed: int = _field(0, "Seed of the identity split.")
  flip: bool = _field(True, "Random horizontal flips (same for sketch/photo/mask).")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Network sizes. Input resolution comes from `DataConfig.image_size`."""

  task: str = _field("sketch2face", "What the run learns (s2f_tf.tasks): "
                     "sketch2face (few-shot), label2face (label map -> "
                     "face), unpaired (A <-> B translation), or noise -> "
                     "image with unconditional (DCGAN / WGAN), stylegan2 or "
                     "lightweight.")
  model: str = _field("", "One of the task's networks; empty: the task's "
                      "default, which config.json records: s2f for "
                      "sketch2face, dcgan for unconditional, ugatit "
                      "(default) or cyclegan for unpaired; stylegan2, "
                      "lightweight and label2face for the tasks of the same "
                      "names.")

  base_channels: int = _field(32, "Channels of the first encoder conv.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Optimisation, precision, logging and checkpointing."""

  batch_size: int = _field(8, "Global batch (split across replicas).")
  steps: int = _field(1000, "Generator steps in total.")
  g_lr: float = _field(1e-4, "Generator Adam learning rate.")
  d_lr: float = _field(4e-4, "TTUR: Heusel et al. 2017, arXiv:1706.08500.")
  lr_decay_steps: int = _field(0, "Both learning rates fall linearly to 0 "
                               "over the last N steps (pix2pix, U-GAT-IT); "
                               "0: constant.")
  beta1: float = _field(0.0, "Adam beta1 for both players.")
  beta2: float = _field(0.999, "Adam beta2 for both players.")
  n_critic: int = _field(1, "D steps per G step.")
  shared_generator_pass: bool = _field(
      False, "One batch and one compiled step per iteration: D and G train "
      "on the same generator forward pass (pix2pix-style; docs/speed.md). "
      "Needs a task that shares it, --n_critic=1 and no lazy regularisers.")
  shared_pass_steps: int = _field(
      0, "With --shared_generator_pass: share the pass for the first N "
      "steps only, then alternate D and G steps on a batch each; 0: every "
      "step. (On the demo, 400 of 1,000 ended lower: docs/speed.md.)")
  gan_loss: str = _field("hinge", "One of GAN_LOSSES.")
  weight_decay: float = _field(0.0, "L2 penalty on every kernel, both players.")
  ema_beta: float = _field(0.999, "EMA of generator weights for samples, eval "
                           "and export; 0 disables.")
  r1_gamma: float = _field(0.0, "R1 weight; 0 disables it.")
  r1_interval: int = _field(16, "Lazy R1 and R2 every N D steps (StyleGAN2).")
  r2_gamma: float = _field(0.0, "R2 (penalty on fake images) weight; 0: off.")
  gp_lambda: float = _field(10.0, "WGAN-GP gradient-penalty weight.")
  augment: str = _field(
      "none", "One of AUGMENTS: transform every image D sees, real and "
      "generated, in both players' steps, so D cannot memorise a small "
      "data set (docs/augment.md): diffaug (DiffAugment, "
      "--augment_policy) or ada (adaptive probability, --ada_target).")
  augment_policy: str = _field(
      "color,translation,cutout", "--augment=diffaug: its transforms, "
      "comma-separated, from color, translation, cutout.")
  ada_target: float = _field(
      0.6, "--augment=ada: the E[sign(D(real))] that the augmentation "
      "probability p steers D to, in (0, 1).")
  ada_interval: int = _field(4, "--augment=ada: iterations between updates "
                             "of p.")
  ada_kimg: int = _field(500, "--augment=ada: thousands of real images over "
                         "which p can move from 0 to 1.")
  wgan_clip: float = _field(0.01, "WGAN critic weight clipping bound.")
  precision: str = _field(
      "float32", "One of PRECISIONS; auto: a one-second probe times float32 "
      "against bfloat16 (float16 on a GPU) and trains in the low precision "
      "only where it is >= 10% faster; bfloat16 on TPUs. Cached per machine "
      "in $XDG_CACHE_HOME/s2f_tf; config.json records the choice and the "
      "times (docs/speed.md#precision).")
  precision_auto: str = dataclasses.field(default="", metadata={
      "help": "Written by --precision=auto: the probe's times and the "
              "choice.", "flag": False})
  init_from: str = _field(
      "", "RUN[:SELECTOR]: start a new run from another run's weights "
      "(fine-tuning, coarse-to-fine). RUN is a workdir, a folder of "
      "checkpoints or a checkpoint prefix; SELECTOR is generator, "
      "discriminator or a variable path prefix (e.g. generator/global/); "
      "none: both players. Variables with the same path and shape are "
      "copied, the rest reported; optimizers and the step start afresh. "
      "Ignored when the workdir already has a checkpoint (a resume).")
  jit_compile: bool = _field(
      False, "Compile the training steps with XLA (see docs/speed.md).")
  profile_steps: str = _field(
      "", "A,B: TensorBoard profiler trace of steps A to B (inclusive) into "
      "workdir/train/plugins/profile; empty: none.")
  seed: int = _field(0, "Seed of weights, episodes and noise.")
  log_every: int = _field(50, "TensorBoard scalars.")
  image_every: int = _field(250, "Sample grids (TensorBoard and PNG).")
  checkpoint_every: int = _field(500, "Steps between checkpoints.")
  keep_checkpoints: int = _field(3, "Checkpoints kept on disk.")
  preemption_grace_s: float = _field(
      25.0, "After SIGTERM or Ctrl-C, seconds to finish the step and save "
      "before exiting without waiting (Kubernetes and Slurm send SIGKILL "
      "after 30 s).")
  histogram_every: int = _field(0, "0 disables weight/gradient histograms.")
  check_numerics: str = _field("grads", "One of CHECK_NUMERICS.")
  stop_on_collapse: bool = _field(
      False, "Stop (not only warn) when outputs or style codes go constant.")
  collapse_patience: int = _field(5, "Log steps of constant output before warning.")
  strategy: str = _field("default", "One of STRATEGIES.")
  eval_every: int = _field(0, "Steps between held-out evaluations; 0: none.")
  eval_episodes: int = _field(256, "Held-out episodes per evaluation.")
  eval_at_end: bool = _field(True, "Run the held-out evaluation after training.")
  metrics: str = _field(
      "", "Evaluation metrics, comma-separated: the task's own measures "
      "against its targets (e.g. psnr,ssim: L1/PSNR/SSIM and baselines) and "
      "swd, fid, kid, which compare --eval_episodes real and generated "
      "images of each of the task's streams (FID/KID need --inception); "
      "empty: every own measure and swd. docs/metrics.md lists the names.")
  inception: str = _field(
      "", "FID/KID: path to classify_image_graph_def.pb or "
      "inception-2015-12-05.tgz, downloaded once by you (docs/metrics.md); "
      "empty: FID/KID are skipped with one log line.")
  cache_real_features: bool = _field(
      True, "FID/KID: keep each stream's real-image Inception features in "
      "$XDG_CACHE_HOME/s2f_tf/real_features (keyed by the data and family "
      "settings, the image count, the stream and the Inception file) and "
      "reuse them; --nocache_real_features recomputes them.")
  kid_subset_size: int = _field(
      1000, "KID: images per subset (100 subsets; 1000 as Binkowski et al. "
      "2018); needs that many --eval_episodes.")
  kid_protocol: str = _field(
      "subsets", "KID's estimator: subsets (100 random subsets of "
      "--kid_subset_size, mean and std; Binkowski et al. 2018, "
      "torch-fidelity) or blocks (TF-GAN's blocks of 10, mean and standard "
      "error; U-GAT-IT's Table 3, on 100 test images). docs/metrics.md")


SHARED = (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))


def shared_flags() -> Tuple[Tuple[str, dataclasses.Field], ...]:
  """(flag name, field) of every shared section's flag: every task's."""
  return tuple((flag_name(section, f.name), f) for section, cls in SHARED
               for f in flag_fields(cls))


def register_family(task: str, section) -> None:
  """`config_families.register`, refusing first a task named like a shared
  section (config.json keys both) and a section field named like a shared
  flag (one flag would set two things)."""
  if task in dict(SHARED):
    raise ValueError(f"task {task!r} is named like a shared config section; "
                     "rename the task")
  shared = {name for name, _ in shared_flags()}
  clash = sorted(shared & {f.name for f in dataclasses.fields(section)}
                 ) if dataclasses.is_dataclass(section) else []
  if clash:
    raise ValueError(f"task {task!r}'s section {section.__name__} redefines "
                     f"the shared flag --{clash[0]}; rename its field")
  families.register(task, section)


def unregister_family(task: str) -> None:
  """Undoes `register_family` (`s2f_tf.tasks.unregister`)."""
  families.unregister(task)


@dataclasses.dataclass(frozen=True)
class Config:
  """A run: the shared sections and its task's own, `family`.

  `family` is an instance of the task's section class
  (`config_families.section_class(model.task)`); `with_task` switches both
  together.
  """

  data: DataConfig = DataConfig()
  model: ModelConfig = ModelConfig()
  train: TrainConfig = TrainConfig()
  family: families.FamilyConfig = families.Sketch2FaceConfig()

  def to_dict(self) -> Dict[str, Any]:
    """config.json's content: the family section under the task's name."""
    return {"data": dataclasses.asdict(self.data),
            "model": dataclasses.asdict(self.model),
            "train": dataclasses.asdict(self.train),
            self.model.task: dataclasses.asdict(self.family)}

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> "Config":
    """Rebuilds a config; unknown keys are an error so typos never pass.

    A config.json from before per-family sections has no section under its
    task's name: `_family_from_flat` takes the family's fields out of the
    shared sections instead.
    """
    shared = {name: dict(d.get(name, {})) for name, _ in SHARED}
    task = shared["model"]["task"] = task_of(shared["model"])
    section = families.section_class(task)
    unknown = sorted(set(d) - set(shared) - {task})
    if unknown:
      raise ValueError(f"config has unknown sections {unknown}; --task={task} "
                       f"keeps its own settings under {task!r}")
    family = (dict(d[task]) if task in d
              else _family_from_flat(shared, section))
    return cls(**{name: _section(name, part, shared[name])
                  for name, part in SHARED},
               family=_section(task, section, family))


def _section(name: str, cls, values: Dict[str, Any]):
  """`cls(**values)`; ValueError naming the keys `cls` has no field for."""
  unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
  if unknown:
    raise ValueError(f"config section '{name}' has unknown keys {unknown}")
  return cls(**values)


# Where a config.json from before per-family sections (up to commit
# cf5659f) kept every family's fields, whatever its task.
_FLAT_FAMILY_FIELDS = {
    "data": ("image_folder",),
    "model": ("cam", "z_dim", "n_downsample", "n_res", "style_dim", "mlp_dim",
              "style_source", "up_kernel", "style_pool", "num_d", "d_layers",
              "d_channels", "mapping_layers", "style_mixing", "norm_mode",
              "label_nc", "param_free_norm", "spade_hidden", "add_dist",
              "use_vae", "n_up"),
    "train": ("lambda_l1", "lambda_fm", "lambda_cam", "pl_weight",
              "pl_interval", "lambda_recon", "lambda_vgg", "vgg_weights",
              "lambda_kld"),
}


def _family_from_flat(shared: Dict[str, Dict[str, Any]],
                      section) -> Dict[str, Any]:
  """An old config.json's family section, moved out of `shared` (in place).

  Those files held every family's fields in the shared sections: the run's
  family's are moved into its section, the other families' dropped (their
  tasks never read them). A key no family ever had stays behind, and
  `_section` reports it.
  """
  own = {f.name for f in dataclasses.fields(section)}
  family = {}
  for name, moved in _FLAT_FAMILY_FIELDS.items():
    for key in moved:
      if key in shared[name]:
        value = shared[name].pop(key)
        if key in own:
          family[key] = value
  return family


def with_task(config: Config, task: str, model: str = "",
              **family_values) -> Config:
  """`config` for another task: its model (empty: the task's default, once
  resolved) and that task's section, `family_values` set.

  Fields the two sections share (e.g. `TranslationConfig`'s) keep their
  values, as one flag sets them for both; the others start at defaults.
  """
  section = families.section_class(task)
  own = {f.name for f in dataclasses.fields(section)}
  kept = {key: value for key, value in dataclasses.asdict(config.family).items()
          if key in own}
  return dataclasses.replace(
      config, model=dataclasses.replace(config.model, task=task, model=model),
      family=section(**{**kept, **family_values}))


def with_family(config: Config, **changes) -> Config:
  """`config` with some fields of its family section changed."""
  return dataclasses.replace(
      config, family=dataclasses.replace(config.family, **changes))


def check_family(config: Config, section=None) -> None:
  """ValueError unless `config.family` is a `section` (default: its task's
  registered section) and not a subclass, whose extra fields config.json
  could not load."""
  section = section or families.section_class(config.model.task)
  # pylint: disable-next=unidiomatic-typecheck
  if type(config.family) is not section:
    raise ValueError(
        f"config.family is a {type(config.family).__name__}, but "
        f"--task={config.model.task} reads a {section.__name__}; switch "
        "tasks with config.with_task")


def task_of(model_section: Dict[str, Any]) -> str:
  """The task of a config's model section, also of runs older than --task.

  Those chose the family by --model: dcgan was the unconditional baseline.
  """
  if "task" in model_section:
    return model_section["task"]
  return ("unconditional" if model_section.get("model") == "dcgan"
          else "sketch2face")


def metric_names(metrics: str) -> Tuple[str, ...]:
  """'psnr, swd,' -> ('psnr', 'swd')."""
  return tuple(m.strip() for m in metrics.split(",") if m.strip())


def save_config(config: Config, workdir: str) -> str:
  return files.write_atomically(
      os.path.join(workdir, "config.json"),
      json.dumps(config.to_dict(), indent=2, sort_keys=True))


def load_config(workdir: str) -> Config:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} not found: '{workdir}' is not an s2f-train workdir "
        "(run s2f-train --workdir=... first)")
  with open(path) as f:
    return Config.from_dict(json.load(f))


def tiny_config(root: str = "data/synth_faces", **train_overrides) -> Config:
  """The small model every test uses: 16 px, a few channels, seconds a step.

  It names its task's model, as a config built from flags does
  (`s2f_tf.tasks.resolve_model`): this module sits below the task registry.
  """
  return Config(
      data=DataConfig(root=root, synth_identities=12, synth_per_identity=5,
                      synth_size=32, image_size=16, k_refs=2,
                      heldout_fraction=0.25),
      model=ModelConfig(task="sketch2face", model="s2f", base_channels=8),
      train=TrainConfig(**{
          "batch_size": 4, "steps": 20, "log_every": 5, "image_every": 10,
          "checkpoint_every": 10, "eval_at_end": False, **train_overrides}),
      family=families.Sketch2FaceConfig(
          n_downsample=2, n_res=1, style_dim=16, mlp_dim=16, num_d=2,
          d_layers=2, d_channels=8),
  )


def parse_profile_steps(text: str):
  """'A,B' -> (A, B) with 0 <= A <= B; ValueError (one line) otherwise."""
  parts = text.split(",")
  if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
    first, last = (int(p) for p in parts)
    if first <= last:
      return first, last
  raise ValueError(f"--profile_steps={text!r} must be 'A,B' with "
                   "0 <= A <= B (step numbers, both profiled)")


def validate(config: Config) -> None:
  """Raises ValueError with a one-line, fixable message for a bad config.

  Runs before anything is built, so a typo costs a second, not a traced model.
  These are the checks every task shares, then the family section's own
  (`FamilyConfig.validate`); `s2f_tf.tasks.validate` adds the task's.
  """
  check_family(config)
  d, m, t = config.data, config.model, config.train
  choices = ((d.sketch_method, SKETCH_METHODS, "sketch_method"),
             (t.gan_loss, GAN_LOSSES, "gan_loss"),
             (t.precision, PRECISIONS, "precision"),
             (t.check_numerics, CHECK_NUMERICS, "check_numerics"),
             (t.kid_protocol, KID_PROTOCOLS, "kid_protocol"),
             (t.strategy, STRATEGIES, "strategy"),
             (t.augment, AUGMENTS, "augment"))
  for value, allowed, name in choices:
    if value not in allowed:
      raise ValueError(f"--{name}={value!r} is unknown; use one of "
                       f"{', '.join(allowed)}")
  if not MIN_IMAGE_SIZE <= d.image_size <= MAX_IMAGE_SIZE:
    raise ValueError(f"--image_size={d.image_size} must be in "
                     f"[{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]")
  if d.k_refs < 1:
    raise ValueError(f"--k_refs={d.k_refs} must be >= 1 (reference photos "
                     "per episode)")
  if not 0.0 < d.heldout_fraction < 1.0:
    raise ValueError(f"--heldout_fraction={d.heldout_fraction} must be in "
                     "(0, 1)")
  positive = (("batch_size", t.batch_size), ("steps", t.steps),
              ("n_critic", t.n_critic), ("log_every", t.log_every),
              ("image_every", t.image_every),
              ("checkpoint_every", t.checkpoint_every),
              ("keep_checkpoints", t.keep_checkpoints),
              ("r1_interval", t.r1_interval),
              ("ada_interval", t.ada_interval), ("ada_kimg", t.ada_kimg),
              ("collapse_patience", t.collapse_patience),
              ("base_channels", m.base_channels))
  for name, value in positive:
    if value < 1:
      raise ValueError(f"--{name}={value} must be >= 1")
  if t.g_lr <= 0 or t.d_lr <= 0:
    raise ValueError(f"learning rates must be > 0 (got --g_lr={t.g_lr}, "
                     f"--d_lr={t.d_lr})")
  if not 0 <= t.lr_decay_steps <= t.steps:
    raise ValueError(f"--lr_decay_steps={t.lr_decay_steps} must be in [0, "
                     f"--steps={t.steps}]: the learning rates decay over the "
                     "last N steps of the run")
  non_negative = (("histogram_every", t.histogram_every),
                  ("eval_every", t.eval_every), ("r1_gamma", t.r1_gamma),
                  ("r2_gamma", t.r2_gamma), ("weight_decay", t.weight_decay))
  for name, value in non_negative:
    if value < 0:
      raise ValueError(f"--{name}={value} must be >= 0")
  if not 0.0 < t.ada_target < 1.0:
    raise ValueError(f"--ada_target={t.ada_target} must be in (0, 1): the "
                     "share of reals D may call real beyond chance (0.6 in "
                     "the ADA paper)")
  if t.kid_subset_size < 2:
    raise ValueError(f"--kid_subset_size={t.kid_subset_size} must be >= 2 "
                     "(an unbiased MMD needs two images per set)")
  if t.preemption_grace_s <= 0:
    raise ValueError(f"--preemption_grace_s={t.preemption_grace_s} must be "
                     "> 0")
  if t.shared_generator_pass and t.n_critic != 1:
    raise ValueError("--shared_generator_pass updates D once per G step; "
                     f"use --n_critic=1 (got {t.n_critic}) or drop it")
  if t.shared_pass_steps and not t.shared_generator_pass:
    raise ValueError(f"--shared_pass_steps={t.shared_pass_steps} says how "
                     "long to share the generator pass; add "
                     "--shared_generator_pass or drop it")
  if not 0 <= t.shared_pass_steps <= t.steps:
    raise ValueError(f"--shared_pass_steps={t.shared_pass_steps} must be in "
                     f"[0, --steps={t.steps}] (0: every step)")
  if t.jit_compile and t.check_numerics == "full":
    raise ValueError("--check_numerics=full instruments every op, which XLA "
                     "fuses away; use it with --nojit_compile")
  if t.profile_steps:
    parse_profile_steps(t.profile_steps)
  if not 0.0 <= t.ema_beta < 1.0:
    raise ValueError(f"--ema_beta={t.ema_beta} must be in [0, 1)")
  if t.init_from:
    run = t.init_from.partition(":")[0]
    if not (os.path.isdir(run) or os.path.isfile(run + ".index")):
      raise ValueError(
          f"--init_from={t.init_from!r}: {run!r} is neither a folder nor a "
          "checkpoint prefix (path/ckpt-N with path/ckpt-N.index); name the "
          "run to start from, optionally with :generator, :discriminator or "
          ":PATH_PREFIX")
  config.family.validate()
  if not (d.synthesize or os.path.isdir(d.root)):
    raise ValueError(
        f"--data_root={d.root!r} does not exist; point it at a CelebAMask-HQ "
        "folder (CelebA-HQ-img/, CelebAMask-HQ-mask-anno/) or pass "
        "--synthesize to generate the synthetic face set there")
