"""Per-family config sections: the settings only one model family reads.

The shared sections (`config.DataConfig`, `ModelConfig`, `TrainConfig`) hold
what every task reads; a family's networks and objective read its own frozen
section, `Config.family`, which its task declares (`Task.CONFIG`), as NVlabs
imaginaire gives each network its own section (`Generator(cfg.gen,
cfg.data)`). Families that share parts share a base section: both
image -> face families judge with one multi-scale PatchGAN
(`TranslationConfig`), all noise -> image ones draw a noise vector
(`NoiseConfig`).

Every field is an absl flag of its own name (`s2f_tf.flags`), accepted only
with the tasks whose section holds it (`owners`). The registry maps a task to
its section; the built-in families are in it from the start, so
`config.load_config` rebuilds any built-in run without importing a task (or
TensorFlow), and `s2f_tf.tasks.register` adds the section of a task defined
elsewhere.
"""

import dataclasses
import os
from typing import Dict, Tuple, Type

STYLE_SOURCES = ("embedder", "random", "zeros")


def field(default, help_text: str):
  """A dataclass field whose help text becomes the absl flag's help."""
  return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class FamilyConfig:
  """A task's own settings; this base has none, for tasks that need none."""

  def validate(self) -> None:
    """Raises ValueError (one fixable line) on a value no network can use.

    Runs in `config.validate`, before anything is built; subclasses extend
    it. Checks that need the shared sections belong to `Task.validate`.
    """


def _n_res():
  """--n_res, one flag for the families with AdaLIN/residual decoders."""
  return field(4, "Residual blocks: sketch2face's AdaLIN decoder blocks; "
               "unpaired: per generator (U-GAT-IT's encoder and AdaLIN "
               "decoder each have n_res; CycleGAN's ResNet has n_res, paper "
               "9 at 256 px and 6 at <= 128).")


def _d_channels():
  """--d_channels, one flag for every family with a PatchGAN."""
  return field(32, "Channels of each PatchGAN's first conv.")


def _at_least(minimum, values) -> None:
  """ValueError naming the first (flag, value) below `minimum`."""
  for name, value in values:
    if value < minimum:
      raise ValueError(f"--{name}={value} must be >= {minimum}")


@dataclasses.dataclass(frozen=True)
class TranslationConfig(FamilyConfig):
  """Image -> face with a multi-scale PatchGAN (pix2pixHD, Wang et al. 2018,
  arXiv:1711.11585): the few-shot and label-map families."""

  style_dim: int = field(128, "Length of the averaged style code.")
  num_d: int = field(2, "Discriminator scales.")
  d_layers: int = field(3, "Stride-2 convs per PatchGAN scale.")
  d_channels: int = _d_channels()
  lambda_l1: float = field(10.0, "L1 reconstruction weight.")
  lambda_fm: float = field(1.0, "Feature-matching weight.")

  def validate(self) -> None:
    _at_least(1, (("style_dim", self.style_dim), ("num_d", self.num_d),
                  ("d_layers", self.d_layers),
                  ("d_channels", self.d_channels)))


@dataclasses.dataclass(frozen=True)
class Sketch2FaceConfig(TranslationConfig):
  """Few-shot sketch -> face: MUNIT's content/style split with U-GAT-IT's
  AdaLIN decoder and, optionally, its CAM attention (`models.few_shot`)."""

  cam: bool = field(False, "U-GAT-IT class-activation-map attention in G "
                    "and D, with its auxiliary classifier loss.")
  n_downsample: int = field(2, "Stride-2 convs in the content encoder.")
  n_res: int = _n_res()
  mlp_dim: int = field(128, "Hidden width of the style -> AdaLIN MLP.")
  style_source: str = field("embedder", "One of STYLE_SOURCES (debug modes).")
  up_kernel: int = field(5, "sketch2face: kernel of the decoder's "
                         "up-sampling convs (MUNIT's 5; 3 does their work "
                         "in 9/25 of the FLOPs: docs/speed.md).")
  style_pool: int = field(1, "sketch2face: the style embedder reads the "
                          "reference photos average-pooled by this factor "
                          "(1: at full size; 2: a quarter of its FLOPs).")
  lambda_cam: float = field(1.0, "CAM auxiliary classifier weight (--cam).")

  def validate(self) -> None:
    super().validate()
    if self.style_source not in STYLE_SOURCES:
      raise ValueError(f"--style_source={self.style_source!r} is unknown; "
                       f"use one of {', '.join(STYLE_SOURCES)}")
    _at_least(1, (("mlp_dim", self.mlp_dim),))
    _at_least(0, (("lambda_cam", self.lambda_cam),))


@dataclasses.dataclass(frozen=True)
class Label2FaceConfig(TranslationConfig):
  """Label map -> face: SPADE, CLADE and SEAN (`models.label2face`)."""

  norm_mode: str = field("spade", "label2face: spade, clade or sean "
                         "(layers.semantic_norm.NORM_MODES).")
  label_nc: int = field(19, "label2face: classes of the label map "
                        "(CelebAMask-HQ: 19, background included).")
  param_free_norm: str = field(
      "instance", "label2face: instance or batch norm before the "
      "modulation (layers.semantic_norm.PARAM_FREE_NORMS); batch is "
      "synchronized across replicas.")
  spade_hidden: int = field(128, "label2face: hidden channels of SPADE's "
                            "conv net on the label map.")
  add_dist: bool = field(False, "label2face clade: intra-class distance "
                         "map (ICLADE).")
  use_vae: bool = field(False, "label2face spade/clade: start from a VAE "
                        "style code of the references, not the label map.")
  n_up: int = field(5, "label2face: x2 upsamplings after the first block "
                    "(SPADE's 'normal': 5); image_size / 2**n_up >= 1.")
  lambda_vgg: float = field(0.0, "label2face: VGG19 perceptual loss weight "
                            "(SPADE: 10); needs --vgg_weights.")
  vgg_weights: str = field("", "label2face: Keras weights file of "
                           "VGG19(include_top=False); never downloaded.")
  lambda_kld: float = field(0.05, "label2face --use_vae: KL weight (SPADE).")
  # --model=pix2pixhd (Wang et al. 2018, arXiv:1711.11585; models.pix2pixhd).
  n_downsample_global: int = field(
      4, "label2face --model=pix2pixhd: stride-2 convs of the global "
      "generator G1 (pix2pixHD: 4).")
  n_blocks_global: int = field(9, "label2face --model=pix2pixhd: residual "
                               "blocks of G1 (pix2pixHD: 9).")
  n_local_enhancers: int = field(
      1, "label2face --model=pix2pixhd: local enhancers G2 (0: G1 alone, "
      "the coarse-to-fine first stage at half resolution).")
  n_blocks_local: int = field(3, "label2face --model=pix2pixhd: residual "
                              "blocks of each local enhancer (pix2pixHD: 3).")
  niter_fix_global: int = field(
      0, "label2face --model=pix2pixhd: first steps that train only the "
      "local enhancer, G1 frozen bit for bit (warm-start G1 with "
      "--init_from).")
  label_feat: bool = field(
      False, "label2face --model=pix2pixhd: pix2pixHD's feature encoder, "
      "its --feat_num maps averaged inside each class region of a photo "
      "and fed to G (trained on the target photo; at inference from "
      "reference photos or k-means clusters, tools/cluster_features.py).")
  feat_num: int = field(3, "label2face --model=pix2pixhd --label_feat: "
                        "features per region (pix2pixHD: 3).")
  nef: int = field(16, "label2face --model=pix2pixhd --label_feat: width of "
                   "the feature encoder's first conv (pix2pixHD: 16).")
  edge_source: str = field(
      "mask_edges", "label2face --model=pix2pixhd: boundary channel beside "
      "the one-hot map: mask_edges (class boundaries of the parsing mask), "
      "sketch (the face's --sketch_method drawing, then an input of G, D "
      "and the export) or none.")


@dataclasses.dataclass(frozen=True)
class NoiseConfig(FamilyConfig):
  """Noise -> image: what the unconditional families share."""

  z_dim: int = field(100, "Noise -> image models: length of the noise "
                     "vector (and of w for stylegan2).")
  image_folder: str = field(
      "", "--model=dcgan: any folder of JPEG/PNG images; empty: the photos "
      "of --data_root (CelebA-HQ-img/).")

  def validate(self) -> None:
    if self.image_folder and not os.path.isdir(self.image_folder):
      raise ValueError(f"--image_folder={self.image_folder!r} does not "
                       "exist; point it at a folder of JPEG/PNG images")


@dataclasses.dataclass(frozen=True)
class UnconditionalConfig(NoiseConfig):
  """DCGAN and the WGAN baselines (`models.dcgan`): the noise settings."""


@dataclasses.dataclass(frozen=True)
class StyleGAN2Config(NoiseConfig):
  """StyleGAN2 (Karras et al. 2020, arXiv:1912.04958)."""

  mapping_layers: int = field(8, "--model=stylegan2: layers of the z -> w "
                              "mapping network.")
  style_mixing: float = field(0.9, "--model=stylegan2: probability of "
                              "style mixing in training.")
  pl_weight: float = field(2.0, "--model=stylegan2: path-length "
                           "regularisation weight; 0: off.")
  pl_interval: int = field(4, "--model=stylegan2: lazy path-length "
                           "regularisation every N G steps.")


@dataclasses.dataclass(frozen=True)
class LightweightConfig(NoiseConfig):
  """LightweightGAN / FastGAN (Liu et al. 2021, arXiv:2101.04775)."""

  lambda_recon: float = field(1.0, "--model=lightweight: weight of D's "
                              "self-supervised reconstruction loss.")


UNPAIRED_MODELS = ("ugatit", "cyclegan")  # --task=unpaired's, default first.


@dataclasses.dataclass(frozen=True)
class UnpairedConfig(FamilyConfig):
  """Unpaired A <-> B translation: U-GAT-IT (Kim et al. 2020,
  arXiv:1907.10830) and CycleGAN (Zhu et al. 2017, arXiv:1703.10593).

  Data come from --data_root in the U-GAT-IT folder layout (trainA/
  trainB/ testA/ testB/); with --synthesize a missing one is filled with
  the synthetic photo -> anime set of the --synth_* flags (test people:
  --heldout_fraction). A negative weight means the model's paper weight (`s2f_tf.tasks.unpaired`
  maps the papers' sums to our halved LSGAN).
  """

  light: bool = field(False, "unpaired --model=ugatit: U-GAT-IT-light, the "
                      "gamma/beta MLP reads globally pooled features (10.6M "
                      "instead of 279M generator weights at 256 px).")
  n_res: int = _n_res()
  d_channels: int = _d_channels()
  lambda_adv: float = field(
      -1.0, "unpaired: weight of both players' adversarial LSGAN terms; < 0: "
      "the paper's (U-GAT-IT 4, CycleGAN 2 for G and 1 for D).")
  lambda_cycle: float = field(10.0, "unpaired: weight of the cycle L1 "
                              "terms (both papers: 10).")
  lambda_identity: float = field(
      -1.0, "unpaired: weight of the identity L1 terms; < 0: the paper's "
      "(U-GAT-IT 10, CycleGAN 0.5 x --lambda_cycle).")
  lambda_cam_g: float = field(1000.0, "unpaired --model=ugatit: weight of "
                              "the generators' CAM classifier BCE (paper: "
                              "1000).")
  residual_output: bool = field(
      False, "unpaired: each generator outputs clip(input + last conv, -1, "
      "1), its last conv zeroed at the start (the identity mapping), "
      "instead of tanh(last conv); not in either paper, for short runs "
      "(flags/unpaired_demo.cfg).")
  pool_size: int = field(50, "unpaired --model=cyclegan: generated images "
                         "kept in each discriminator's history pool; 0: "
                         "none.")

  def validate(self) -> None:
    _at_least(1, (("n_res", self.n_res), ("d_channels", self.d_channels)))
    _at_least(0, (("lambda_cycle", self.lambda_cycle),
                  ("lambda_cam_g", self.lambda_cam_g),
                  ("pool_size", self.pool_size)))


# In the order of `s2f_tf.tasks._BUILTIN`: `owners` lists tasks in it.
_SECTIONS: Dict[str, Type[FamilyConfig]] = {
    "sketch2face": Sketch2FaceConfig,
    "unconditional": UnconditionalConfig,
    "stylegan2": StyleGAN2Config,
    "lightweight": LightweightConfig,
    "label2face": Label2FaceConfig,
    "unpaired": UnpairedConfig,
}
_BUILTIN_SECTIONS = frozenset(_SECTIONS)


def register(task: str, section: Type[FamilyConfig]) -> None:
  """Makes `section` the config section of `--task=task`.

  `s2f_tf.tasks.register` calls it through `config.register_family`, which
  first refuses fields named like a shared flag.

  Raises:
    ValueError: a name registered already, a section that is not a frozen
      `FamilyConfig` dataclass, or a field
      that another section declares with another type, default or help
      (one flag serves both, so they must agree).
  """
  if task in _SECTIONS:
    raise ValueError(f"task {task!r} already has a config section")
  if not (isinstance(section, type) and issubclass(section, FamilyConfig) and
          dataclasses.is_dataclass(section) and
          section.__dataclass_params__.frozen):
    raise ValueError(f"task {task!r}'s CONFIG must be a frozen dataclass "
                     "subclassing config_families.FamilyConfig")
  known = fields_by_name()
  for f in dataclasses.fields(section):
    if f.name in known and _signature(known[f.name]) != _signature(f):
      raise ValueError(
          f"task {task!r}'s section {section.__name__} declares --{f.name} "
          f"unlike --task={' or '.join(owners(f.name))}: one flag serves "
          "both, so give it the same type, default and help, or rename it")
  _SECTIONS[task] = section


def unregister(task: str) -> None:
  """Forgets the section `register` added for `task`; built-ins stay."""
  if task in _BUILTIN_SECTIONS or task not in _SECTIONS:
    raise ValueError(f"task {task!r} has no registered section to remove")
  del _SECTIONS[task]


def section_class(task: str) -> Type[FamilyConfig]:
  """The section of `--task=task`; ValueError naming the tasks (each task
  has one: `s2f_tf.tasks.register` registers both)."""
  if task not in _SECTIONS:
    raise ValueError(f"--task={task!r} is unknown; use one of "
                     f"{', '.join(_SECTIONS)}")
  return _SECTIONS[task]


def owners(name: str) -> Tuple[str, ...]:
  """The tasks whose section has a field `name`, in registration order."""
  return tuple(task for task, section in _SECTIONS.items()
               if name in {f.name for f in dataclasses.fields(section)})


def fields_by_name() -> Dict[str, dataclasses.Field]:
  """Every registered section's fields, one per name (sections that share
  a name agree on it: `register`)."""
  out = {}
  for section in _SECTIONS.values():
    for f in dataclasses.fields(section):
      out.setdefault(f.name, f)
  return out


def _signature(f: dataclasses.Field):
  """What the flag of `f` is made of."""
  return f.type, f.default, f.metadata.get("help")
