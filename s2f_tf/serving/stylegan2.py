"""Serving signatures of a StyleGAN2 generator (Karras et al. 2020).

  serving_default  z float32 [B, z_dim] -> image uint8 (psi = 1)
  serving_float    z float32 [B, z_dim] -> image float32 on [-1, 1] (psi = 1)
  generate         z float32 [B, z_dim], psi float32 [] -> image uint8
  mix              z, z2 float32 [B, z_dim], psi float32 [], cutoff int32
                   [] -> image uint8: layers [0, cutoff) styled by z, the
                   rest by z2 (style mixing)
  mapping          z float32 [B, z_dim] -> w float32 [B, z_dim]

Truncation psi pulls w toward the training run's average w (psi = 0: the
average face; 1: the trained distribution), trading variety for typical
faces at request time. `mapping` lets a client cache, edit or interpolate
w. Noise maps are the fixed ones stored with the weights, so every
signature is a deterministic function of its inputs.
"""

from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from s2f_tf import pixels
from s2f_tf.serving import signatures as sig
from s2f_tf.serving import unconditional

PSI_EXAMPLE = 0.7  # The verification call of `generate`.


def input_values(signature: str, z_dim: int, num_ws: int
                 ) -> Tuple[sig.InputValue, ...]:
  """The unconditional signatures' seed; `generate` adds psi in [0, 1],
  `mix` a second seed and the crossover layer."""
  if signature not in ("generate", "mix"):
    return unconditional.input_values(signature, z_dim)
  seed = sig.InputValue("z", sig.Noise(z_dim), "the noise's seed")
  psi = sig.InputValue("psi", sig.Scalar(0.0, 1.0, PSI_EXAMPLE),
                       "truncation psi: 0 the average face, 1 the trained "
                       "spread")
  if signature == "generate":
    return (seed, psi)
  return (sig.InputValue("z", sig.Noise(z_dim), "the coarse layers' seed"),
          sig.InputValue("z2", sig.Noise(z_dim), "the fine layers' seed"),
          psi, sig.InputValue("cutoff", sig.Scalar(1, num_ws, num_ws // 2,
                                                   step=1),
                              "the first layer styled by z2"))


class StyleGAN2Export(unconditional.UnconditionalExport):
  """The unconditional signatures plus `generate` (with psi) and `mapping`."""

  SIGNATURES = ("serving_default", "serving_float", "generate", "mix",
                "mapping")

  def __init__(self, generator, z_dim: int):
    super().__init__(generator, z_dim)
    self._generate, self._map = generator.generate, generator.map
    self._mix = generator.mix
    self._num_ws = generator.num_ws

  @tf.function(input_signature=[sig.spec(2, tf.float32, "z"),
                                sig.spec(0, tf.float32, "psi")],
               jit_compile=False, autograph=False)
  def generate(self, z, psi):
    image = self._generate(sig.checked(z, "z", self._z_dims), psi)
    return {"image": pixels.to_uint8(image)}

  @tf.function(input_signature=[sig.spec(2, tf.float32, "z"),
                                sig.spec(2, tf.float32, "z2"),
                                sig.spec(0, tf.float32, "psi"),
                                sig.spec(0, tf.int32, "cutoff")],
               jit_compile=False, autograph=False)
  def mix(self, z, z2, psi, cutoff):
    z = sig.checked(z, "z", self._z_dims)
    z2 = sig.same_batch(z, sig.checked(z2, "z2", self._z_dims), "z and z2")
    return {"image": pixels.to_uint8(self._mix(z, z2, psi, cutoff))}

  @tf.function(input_signature=[sig.spec(2, tf.float32, "z")],
               jit_compile=False, autograph=False)
  def mapping(self, z):
    return {"w": self._map(sig.checked(z, "z", self._z_dims))}

  def examples(self, rng: np.random.Generator,
               batch_size: int = 2) -> Dict[str, sig.Example]:
    out = super().examples(rng, batch_size)
    z = out["serving_float"].inputs["z"]
    psi = np.float32(PSI_EXAMPLE)
    image = np.asarray(self._generate(z, psi), np.float32)
    out["generate"] = sig.Example({"z": z, "psi": psi},
                                  pixels.to_uint8(image), 1)
    z2, cutoff = z[::-1].copy(), np.int32(self._num_ws // 2)
    image = np.asarray(self._mix(z, z2, psi, cutoff), np.float32)
    out["mix"] = sig.Example({"z": z, "z2": z2, "psi": psi,
                              "cutoff": cutoff}, pixels.to_uint8(image), 1)
    out["mapping"] = sig.Example({"z": z}, np.asarray(self._map(z)),
                                 sig.TOLERANCE)
    return out
