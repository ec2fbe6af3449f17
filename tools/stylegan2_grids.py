r"""A StyleGAN2 run's truncation-psi grid and style-mixing grid, as PNGs.

  python tools/stylegan2_grids.py --workdir=runs/stylegan2_demo

Restores the run's EMA generator and writes into the workdir:

  truncation.png  one row per seeded latent, one column per --psis value
  mixing.png      StyleGAN's mixing figure: coarse layers [0, --cutoff) from
                  each column's latent, the rest from each row's
"""

import os

from absl import flags
import numpy as np

from s2f_tf.cli import common

common.quiet_tensorflow()

# pylint: disable=g-import-not-at-top
from s2f_tf import summaries
from s2f_tf import tasks
from s2f_tf.tasks import stylegan2 as stylegan2_task
# pylint: enable=g-import-not-at-top

_WORKDIR = flags.DEFINE_string("workdir", None, "A --model=stylegan2 run.")
_PSIS = flags.DEFINE_list("psis", ["1.0", "0.8", "0.6", "0.4", "0.2", "0.0"],
                          "Truncation values, one column each.")
_ROWS = flags.DEFINE_integer("rows", 4, "Latents (rows) in each grid.")
_COLS = flags.DEFINE_integer("cols", 5, "Column latents of the mixing grid.")
_CUTOFF = flags.DEFINE_integer(
    "cutoff", 4, "Mixing: layers below this index come from the column "
    "latent (4: the 4x4 and 8x8 styles).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents.")
flags.mark_flag_as_required("workdir")


def body() -> int:
  task, generator, step = tasks.restore(_WORKDIR.value)
  if "stylegan2" not in task.MODELS:
    raise ValueError(f"{_WORKDIR.value} is a --model="
                     f"{task.config.model.model} run, not a StyleGAN2 one")
  rng = np.random.RandomState(_SEED.value)
  z = lambda n: rng.randn(n, task.config.family.z_dim).astype(np.float32)
  grids = {
      "truncation.png": stylegan2_task.truncation_grid(
          generator, z(_ROWS.value), [float(p) for p in _PSIS.value]),
      "mixing.png": stylegan2_task.style_mixing_grid(
          generator, z(_ROWS.value), z(_COLS.value), _CUTOFF.value),
  }
  for name, grid in grids.items():
    path = os.path.join(_WORKDIR.value, name)
    summaries.save_png(grid, path)
    print(f"step {step}: wrote {path}")
  return 0


if __name__ == "__main__":
  common.main("stylegan2_grids", body)
