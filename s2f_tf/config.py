"""Frozen configuration dataclasses: the one description of a run.

Library code takes a `Config`, never reads absl FLAGS, so every test can build
what it needs with `tiny_config()` and `dataclasses.replace`. The CLI builds a
`Config` once from flags (`s2f_tf.flags.config_from_flags`) and writes it into
the workdir as `config.json`, from which `s2f-eval`, `s2f-export` and
`s2f-project` rebuild the exact same networks.
"""

import dataclasses
import json
import os
from typing import Any, Dict, Tuple

from s2f_tf import files

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
GAN_LOSSES = ("hinge", "non_saturating", "lsgan", "wgan", "wgan_gp")
STYLE_SOURCES = ("embedder", "random", "zeros")
SKETCH_METHODS = ("xdog", "canny", "mask_edges", "mask_edges+xdog")
CHECK_NUMERICS = ("off", "grads", "full")
STRATEGIES = ("default", "mirrored", "multiworker")


_FLAG_NAMES = {("data", "root"): "data_root"}


def flag_name(section: str, field: str) -> str:
  """The flag that sets `section.field` (the field's name but for root)."""
  return _FLAG_NAMES.get((section, field), field)


def flag_fields(cls) -> Tuple[dataclasses.Field, ...]:
  """The fields of a config section that are flags: all but those the run
  writes itself (metadata flag=False, e.g. what --precision=auto measured)."""
  return tuple(f for f in dataclasses.fields(cls)
               if f.metadata.get("flag", True))


# Tasks whose networks or objectives read a family's fields: a flag of
# these is accepted only with one of its tasks (`family_tasks`).
_FEW_SHOT = ("sketch2face",)
_LABEL_MAP = ("label2face",)
_TRANSLATION = ("sketch2face", "label2face")  # Image -> face, PatchGAN D.
_NOISE = ("unconditional", "stylegan2", "lightweight")  # Noise -> image.


def _field(default, help_text: str, tasks: Tuple[str, ...] = ()):
  """A dataclass field whose help text becomes the absl flag's help.

  `tasks`: the tasks that read it (empty: every task); `--helpfull` lists
  the flag under them and s2f-train refuses it for another task.
  """
  return dataclasses.field(default=default, metadata={"help": help_text,
                                                      "tasks": tasks})


def family_tasks(field: dataclasses.Field) -> Tuple[str, ...]:
  """The tasks that read `field`; () when every task does."""
  return field.metadata.get("tasks", ())


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
  image_folder: str = _field(
      "", "--model=dcgan: any folder of JPEG/PNG images; empty: the photos "
      "of --data_root (CelebA-HQ-img/).",
                             tasks=_NOISE)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Network sizes. Input resolution comes from `DataConfig.image_size`."""

  task: str = _field("sketch2face", "What the run learns (s2f_tf.tasks): "
                     "sketch2face (few-shot), label2face (label map -> "
                     "face), or noise -> image with unconditional (DCGAN / "
                     "WGAN), stylegan2 or lightweight.")
  model: str = _field("", "One of the task's networks; empty: the task's "
                      "default, which config.json records. Each task has "
                      "one so far: s2f for sketch2face, dcgan for "
                      "unconditional; stylegan2, lightweight and label2face "
                      "for the tasks of the same names.")
  cam: bool = _field(False, "U-GAT-IT class-activation-map attention in G "
                     "and D, with its auxiliary classifier loss.",
                     tasks=_FEW_SHOT)
  z_dim: int = _field(100, "Noise -> image models: length of the noise "
                      "vector (and of w for stylegan2).",
                      tasks=_NOISE)

  base_channels: int = _field(32, "Channels of the first encoder conv.")
  n_downsample: int = _field(2, "Stride-2 convs in the content encoder.",
                             tasks=_FEW_SHOT)
  n_res: int = _field(4, "AdaLIN residual blocks in the decoder.",
                      tasks=_FEW_SHOT)
  style_dim: int = _field(128, "Length of the averaged style code.",
                          tasks=_TRANSLATION)
  mlp_dim: int = _field(128, "Hidden width of the style -> AdaLIN MLP.",
                        tasks=_FEW_SHOT)
  style_source: str = _field("embedder", "One of STYLE_SOURCES (debug modes).",
                             tasks=_FEW_SHOT)
  up_kernel: int = _field(5, "sketch2face: kernel of the decoder's "
                          "up-sampling convs (MUNIT's 5; 3 does their work "
                          "in 9/25 of the FLOPs: docs/speed.md).",
                          tasks=_FEW_SHOT)
  style_pool: int = _field(1, "sketch2face: the style embedder reads the "
                           "reference photos average-pooled by this factor "
                           "(1: at full size; 2: a quarter of its FLOPs).",
                           tasks=_FEW_SHOT)
  num_d: int = _field(2, "Discriminator scales.",
                      tasks=_TRANSLATION)
  d_layers: int = _field(3, "Stride-2 convs per PatchGAN scale.",
                         tasks=_TRANSLATION)
  d_channels: int = _field(32, "Channels of each PatchGAN's first conv.",
                           tasks=_TRANSLATION)
  mapping_layers: int = _field(8, "--model=stylegan2: layers of the z -> w "
                               "mapping network.",
                               tasks=("stylegan2",))
  style_mixing: float = _field(0.9, "--model=stylegan2: probability of "
                               "style mixing in training.",
                               tasks=("stylegan2",))

  norm_mode: str = _field("spade", "label2face: spade, clade or sean "
                          "(layers.semantic_norm.NORM_MODES).",
                          tasks=_LABEL_MAP)
  label_nc: int = _field(19, "label2face: classes of the label map "
                         "(CelebAMask-HQ: 19, background included).",
                         tasks=_LABEL_MAP)
  param_free_norm: str = _field(
      "instance", "label2face: instance or batch norm before the "
      "modulation (layers.semantic_norm.PARAM_FREE_NORMS); batch is "
      "synchronized across replicas.", tasks=_LABEL_MAP)
  spade_hidden: int = _field(128, "label2face: hidden channels of SPADE's "
                             "conv net on the label map.",
                             tasks=_LABEL_MAP)
  add_dist: bool = _field(False, "label2face clade: intra-class distance "
                          "map (ICLADE).",
                          tasks=_LABEL_MAP)
  use_vae: bool = _field(False, "label2face spade/clade: start from a VAE "
                         "style code of the references, not the label map.",
                         tasks=_LABEL_MAP)
  n_up: int = _field(5, "label2face: x2 upsamplings after the first block "
                     "(SPADE's 'normal': 5); image_size / 2**n_up >= 1.",
                     tasks=_LABEL_MAP)


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
  lambda_l1: float = _field(10.0, "L1 reconstruction weight.",
                            tasks=_TRANSLATION)
  lambda_fm: float = _field(1.0, "Feature-matching weight.",
                            tasks=_TRANSLATION)
  lambda_cam: float = _field(1.0, "CAM auxiliary classifier weight (--cam).",
                             tasks=_FEW_SHOT)
  weight_decay: float = _field(0.0, "L2 penalty on every kernel, both players.")
  ema_beta: float = _field(0.999, "EMA of generator weights for samples, eval "
                           "and export; 0 disables.")
  r1_gamma: float = _field(0.0, "R1 weight; 0 disables it.")
  r1_interval: int = _field(16, "Lazy R1 and R2 every N D steps (StyleGAN2).")
  r2_gamma: float = _field(0.0, "R2 (penalty on fake images) weight; 0: off.")
  gp_lambda: float = _field(10.0, "WGAN-GP gradient-penalty weight.")
  wgan_clip: float = _field(0.01, "WGAN critic weight clipping bound.")
  pl_weight: float = _field(2.0, "--model=stylegan2: path-length "
                            "regularisation weight; 0: off.",
                            tasks=("stylegan2",))
  pl_interval: int = _field(4, "--model=stylegan2: lazy path-length "
                            "regularisation every N G steps.",
                            tasks=("stylegan2",))
  lambda_recon: float = _field(1.0, "--model=lightweight: weight of D's "
                               "self-supervised reconstruction loss.",
                               tasks=("lightweight",))
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
  kid_subset_size: int = _field(
      1000, "KID: images per subset (100 subsets; 1000 as Binkowski et al. "
      "2018); needs that many --eval_episodes.")
  lambda_vgg: float = _field(0.0, "label2face: VGG19 perceptual loss weight "
                             "(SPADE: 10); needs --vgg_weights.",
                             tasks=_LABEL_MAP)
  vgg_weights: str = _field("", "label2face: Keras weights file of "
                            "VGG19(include_top=False); never downloaded.",
                            tasks=_LABEL_MAP)
  lambda_kld: float = _field(0.05, "label2face --use_vae: KL weight (SPADE).",
                             tasks=_LABEL_MAP)


@dataclasses.dataclass(frozen=True)
class Config:
  data: DataConfig = DataConfig()
  model: ModelConfig = ModelConfig()
  train: TrainConfig = TrainConfig()

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> "Config":
    """Rebuilds a config; unknown keys are an error so typos never pass."""
    parts = {}
    for name, part_cls in (("data", DataConfig), ("model", ModelConfig),
                           ("train", TrainConfig)):
      values = dict(d.get(name, {}))
      if name == "model":
        values["task"] = task_of(values)
      known = {f.name for f in dataclasses.fields(part_cls)}
      unknown = sorted(set(values) - known)
      if unknown:
        raise ValueError(f"config section '{name}' has unknown keys {unknown}")
      parts[name] = part_cls(**values)
    return cls(**parts)


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
      model=ModelConfig(task="sketch2face", model="s2f", base_channels=8,
                        n_downsample=2, n_res=1, style_dim=16, mlp_dim=16,
                        num_d=2, d_layers=2, d_channels=8),
      train=TrainConfig(**{
          "batch_size": 4, "steps": 20, "log_every": 5, "image_every": 10,
          "checkpoint_every": 10, "eval_at_end": False, **train_overrides}),
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
  These are the checks every task shares; `s2f_tf.tasks.validate` adds the
  task's own.
  """
  d, m, t = config.data, config.model, config.train
  choices = ((d.sketch_method, SKETCH_METHODS, "sketch_method"),
             (m.style_source, STYLE_SOURCES, "style_source"),
             (t.gan_loss, GAN_LOSSES, "gan_loss"),
             (t.precision, PRECISIONS, "precision"),
             (t.check_numerics, CHECK_NUMERICS, "check_numerics"),
             (t.strategy, STRATEGIES, "strategy"))
  for value, allowed, name in choices:
    if value not in allowed:
      raise ValueError(f"--{name}={value!r} is unknown; use one of "
                       f"{', '.join(allowed)}")
  if not 16 <= d.image_size <= 256:
    raise ValueError(f"--image_size={d.image_size} must be in [16, 256]")
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
              ("collapse_patience", t.collapse_patience),
              ("base_channels", m.base_channels), ("style_dim", m.style_dim),
              ("mlp_dim", m.mlp_dim), ("num_d", m.num_d),
              ("d_layers", m.d_layers), ("d_channels", m.d_channels))
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
                  ("r2_gamma", t.r2_gamma), ("weight_decay", t.weight_decay),
                  ("lambda_cam", t.lambda_cam))
  for name, value in non_negative:
    if value < 0:
      raise ValueError(f"--{name}={value} must be >= 0")
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
  if d.image_folder and not os.path.isdir(d.image_folder):
    raise ValueError(f"--image_folder={d.image_folder!r} does not exist; "
                     "point it at a folder of JPEG/PNG images")
  if not (d.synthesize or os.path.isdir(d.root)):
    raise ValueError(
        f"--data_root={d.root!r} does not exist; point it at a CelebAMask-HQ "
        "folder (CelebA-HQ-img/, CelebAMask-HQ-mask-anno/) or pass "
        "--synthesize to generate the synthetic face set there")
