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
from typing import Any, Dict

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
GAN_LOSSES = ("hinge", "non_saturating", "lsgan", "wgan", "wgan_gp")
STYLE_SOURCES = ("embedder", "random", "zeros")
SKETCH_METHODS = ("xdog", "canny", "mask_edges", "mask_edges+xdog")
CHECK_NUMERICS = ("off", "grads", "full")
STRATEGIES = ("default", "mirrored", "multiworker")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Where the faces come from and how episodes are shaped."""

  root: str = "data/synth_faces"  # CelebAMask-HQ layout on disk.
  synthesize: bool = True  # Generate the synthetic set at `root` if missing.
  synth_identities: int = 200  # Synthetic set: number of people.
  synth_per_identity: int = 12  # Synthetic set: photos per person.
  synth_size: int = 128  # Synthetic set: stored image size in pixels.
  synth_seed: int = 0  # Synthetic set: seed; same seed, same files.
  identity_file: str = ""  # Empty: `root/identity_CelebA.txt`.
  image_size: int = 64  # Training resolution (square).
  k_refs: int = 3  # Reference photos of the target's identity per episode.
  sketch_method: str = "xdog"  # One of SKETCH_METHODS.
  heldout_fraction: float = 0.1  # Identities never seen in training.
  split_seed: int = 0  # Seed of the identity split.
  flip: bool = True  # Random horizontal flips (same for sketch/photo/mask).


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Network sizes. Input resolution comes from `DataConfig.image_size`."""

  base_channels: int = 32  # Channels of the first encoder conv.
  n_downsample: int = 2  # Stride-2 convs in the content encoder.
  n_res: int = 4  # AdaLIN residual blocks in the decoder.
  style_dim: int = 128  # Length of the averaged style code.
  mlp_dim: int = 128  # Hidden width of the style -> AdaLIN MLP.
  style_source: str = "embedder"  # One of STYLE_SOURCES (debug modes).
  num_d: int = 2  # Discriminator scales.
  d_layers: int = 3  # Stride-2 convs per PatchGAN scale.
  d_channels: int = 32  # Channels of each PatchGAN's first conv.


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Optimisation, precision, logging and checkpointing."""

  batch_size: int = 8  # Global batch (split across replicas).
  steps: int = 1000  # Generator steps in total.
  g_lr: float = 1e-4
  d_lr: float = 4e-4  # TTUR: Heusel et al. 2017, arXiv:1706.08500.
  beta1: float = 0.0
  beta2: float = 0.999
  n_critic: int = 1  # D steps per G step.
  gan_loss: str = "hinge"  # One of GAN_LOSSES.
  lambda_l1: float = 10.0  # L1 reconstruction weight.
  lambda_fm: float = 1.0  # Feature-matching weight.
  r1_gamma: float = 0.0  # R1 weight; 0 disables it.
  r1_interval: int = 16  # Lazy R1 every N D steps (StyleGAN2).
  precision: str = "float32"  # One of PRECISIONS.
  seed: int = 0
  log_every: int = 50  # TensorBoard scalars.
  image_every: int = 250  # Sample grids (TensorBoard and PNG).
  checkpoint_every: int = 500
  keep_checkpoints: int = 3
  histogram_every: int = 0  # 0 disables weight/gradient histograms.
  check_numerics: str = "grads"  # One of CHECK_NUMERICS.
  stop_on_collapse: bool = False
  collapse_patience: int = 5  # Log steps of constant output before warning.
  strategy: str = "default"  # One of STRATEGIES.
  eval_at_end: bool = True


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
      known = {f.name for f in dataclasses.fields(part_cls)}
      unknown = sorted(set(values) - known)
      if unknown:
        raise ValueError(f"config section '{name}' has unknown keys {unknown}")
      parts[name] = part_cls(**values)
    return cls(**parts)


def save_config(config: Config, workdir: str) -> str:
  path = os.path.join(workdir, "config.json")
  with open(path, "w") as f:
    json.dump(config.to_dict(), f, indent=2, sort_keys=True)
  return path


def load_config(workdir: str) -> Config:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} not found: '{workdir}' is not an s2f-train workdir "
        "(run s2f-train --workdir=... first)")
  with open(path) as f:
    return Config.from_dict(json.load(f))


def tiny_config(root: str = "data/synth_faces", **train_overrides) -> Config:
  """The small model every test uses: 16 px, a few channels, seconds a step."""
  return Config(
      data=DataConfig(root=root, synth_identities=12, synth_per_identity=5,
                      synth_size=32, image_size=16, k_refs=2,
                      heldout_fraction=0.25),
      model=ModelConfig(base_channels=8, n_downsample=2, n_res=1,
                        style_dim=16, mlp_dim=16, num_d=2, d_layers=2,
                        d_channels=8),
      train=TrainConfig(**{
          "batch_size": 4, "steps": 20, "log_every": 5, "image_every": 10,
          "checkpoint_every": 10, "eval_at_end": False, **train_overrides}),
  )
