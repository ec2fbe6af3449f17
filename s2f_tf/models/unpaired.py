"""Two-direction players for unpaired translation: one Keras model each.

U-GAT-IT's official code chains both generators into one optimizer and all
four discriminators into another (Kim et al. 2020, arXiv:1907.10830), as
CycleGAN's does with its two of each (Zhu et al. 2017, arXiv:1703.10593):
one player owns several networks and one update moves them together. Here
each player is one `keras.Model` whose networks are named sub-models, so
variables read `generator/a2b/...`, `discriminator/b_local/...` in
checkpoints, histograms and the numerics guard.

Every generator direction returns a dict with at least "image"; U-GAT-IT's
add "cam_logits" and "heatmap" (`models.ugatit`). Every discriminator
returns, per domain, a list over its networks of dicts with "logits" (and
U-GAT-IT's "cam_logits").
"""

from typing import Dict, List

import keras
from keras import ops

from s2f_tf.models import cyclegan
from s2f_tf.models import ugatit

DOMAINS = ("a", "b")
DIRECTIONS = {"a2b": "a", "b2a": "b"}  # Direction -> the domain it reads.


def cyclegan_patch_layers(image_size: int) -> int:
  """The 70x70 PatchGAN's 3 stride-2 convs, fewer where the map would fall
  below `cyclegan.MIN_PATCH_MAP` (2 at 16-23 px)."""
  fits = [n for n in range(1, cyclegan.PATCH_LAYERS + 1)
          if image_size // 2**n >= cyclegan.MIN_PATCH_MAP]
  if not fits:
    raise ValueError(f"CycleGAN's PatchGAN needs image_size >= "
                     f"{2 * cyclegan.MIN_PATCH_MAP}, got {image_size}")
  return fits[-1]


@keras.saving.register_keras_serializable(package="s2f_tf")
class UnpairedGenerator(keras.Model):
  """{"a", "b"} images -> {"a2b": G_ab(a), "b2a": G_ba(b)}, each a dict.

  `model` is "ugatit" or "cyclegan"; the other arguments are the networks'
  (`light` is U-GAT-IT's). Sub-models are built by the first call, under
  this model's name, so their variables carry both names.
  """

  def __init__(self, model, image_size, base_channels=64, n_res=4,
               light=False, residual_output=False, **kwargs):
    super().__init__(**kwargs)
    self.model, self.image_size = model, image_size
    self.base_channels, self.n_res, self.light = base_channels, n_res, light
    self.residual_output = residual_output
    for direction in DIRECTIONS:
      if model == "ugatit":
        network = ugatit.UGATITGenerator(image_size, base_channels, n_res,
                                         light, residual_output,
                                         name=direction)
      else:
        network = cyclegan.CycleGANGenerator(image_size, base_channels, n_res,
                                             residual_output, name=direction)
      setattr(self, direction, network)

  def translate(self, direction: str, images, training=None
                ) -> Dict[str, object]:
    """One direction on `images`: a dict with "image" (and U-GAT-IT's
    "cam_logits" and "heatmap")."""
    out = getattr(self, direction)(images, training=training)
    return out if isinstance(out, dict) else {"image": out}

  def call(self, images, training=None):
    return {d: self.translate(d, images[source], training=training)
            for d, source in DIRECTIONS.items()}

  def get_config(self):
    return {"name": self.name, "model": self.model,
            "image_size": self.image_size,
            "base_channels": self.base_channels, "n_res": self.n_res,
            "light": self.light, "residual_output": self.residual_output}


@keras.saving.register_keras_serializable(package="s2f_tf")
class UnpairedDiscriminator(keras.Model):
  """{"a": images, "b": images} (either or both) -> per domain a list of
  dicts ("logits", and U-GAT-IT's "cam_logits"), one per network.

  U-GAT-IT: a global and a local discriminator per domain
  (`ugatit.discriminator_layers`), sub-models `a_global`, `a_local`, ...;
  CycleGAN: one 70x70 PatchGAN per domain, `a` and `b`.
  """

  def __init__(self, model, image_size, base_channels=64, **kwargs):
    super().__init__(**kwargs)
    self.model, self.image_size = model, image_size
    self.base_channels = base_channels
    self.networks: Dict[str, List[str]] = {}
    for domain in DOMAINS:
      if model == "ugatit":
        depths = dict(zip(("global", "local"),
                          ugatit.discriminator_layers(image_size)))
        names = [f"{domain}_{scale}" for scale in depths]
        for name, depth in zip(names, depths.values()):
          setattr(self, name, ugatit.UGATITDiscriminator(
              image_size, base_channels, depth, name=name))
      else:
        names = [domain]
        setattr(self, domain, cyclegan.CycleGANDiscriminator(
            image_size, base_channels, cyclegan_patch_layers(image_size),
            name=domain))
      self.networks[domain] = names

  def judge(self, domain: str, images, training=None) -> List[Dict]:
    """Every network of `domain` on `images`, as dicts with "logits"."""
    outs = [getattr(self, name)(images, training=training)
            for name in self.networks[domain]]
    return [o if isinstance(o, dict) else {"logits": o} for o in outs]

  def call(self, images, training=None):
    return {d: self.judge(d, x, training=training) for d, x in images.items()}

  def get_config(self):
    return {"name": self.name, "model": self.model,
            "image_size": self.image_size,
            "base_channels": self.base_channels}


def build_generator(model, image_size, base_channels=64, n_res=4, light=False,
                    residual_output=False) -> UnpairedGenerator:
  """A built pair of generators named `generator/a2b`, `generator/b2a`;
  CycleGAN's kernels start at N(0, 0.02) as in its paper. With
  residual_output both start as the identity mapping."""
  generator = UnpairedGenerator(model, image_size, base_channels, n_res,
                                light, residual_output, name="generator")
  zeros = ops.zeros((1, image_size, image_size, 3))
  generator({d: zeros for d in DOMAINS})
  if model == "cyclegan":
    cyclegan.gaussian_init(generator)
  if residual_output:
    for direction in DIRECTIONS:
      getattr(generator, direction).zero_residual()
  return generator


def build_discriminator(model, image_size, base_channels=64
                        ) -> UnpairedDiscriminator:
  """The built discriminators of both domains under `discriminator/`."""
  discriminator = UnpairedDiscriminator(model, image_size, base_channels,
                                        name="discriminator")
  zeros = ops.zeros((1, image_size, image_size, 3))
  discriminator({d: zeros for d in DOMAINS})
  if model == "cyclegan":
    cyclegan.gaussian_init(discriminator)
  return discriminator
