"""Costs of SPADE vs CLADE vs SEAN: parameters, train step, inference latency.

CLADE's claim (Tan et al. 2021, arXiv:2012.04644) is SPADE-like quality at a
fraction of the normalisation's cost; this measures the cost side on this
machine, with the demo preset's network (flags/label2face_demo.cfg) at 64 px
and the same widths one upsampling deeper at 256 px:

  python tools/bench_label2face.py --flagfile=flags/label2face_demo.cfg

Columns: G parameters (all, and inside the semantic norms), median ms of one
D step + one G step (batch --batch_size) and of one sampler call (batch 1).
The synthetic set is read at each size (generated on first use).
"""

import dataclasses
import os
import tempfile

from absl import app
from absl import flags
import numpy as np

from s2f_tf.cli import common

common.quiet_tensorflow()

from s2f_tf import config as config_lib  # pylint: disable=g-import-not-at-top
from s2f_tf import flags as s2f_flags  # pylint: disable=g-import-not-at-top
from s2f_tf import timing  # pylint: disable=g-import-not-at-top

s2f_flags.define_config_flags()
flags.DEFINE_integer("repeats", 5, "Timed calls per measurement (median).")
flags.DEFINE_list("sizes", ["64", "256"], "Image sizes to measure.")
FLAGS = flags.FLAGS
MODES = (("spade", {}), ("clade", {}), ("clade", {"add_dist": True}),
         ("sean", {}))


def _config(base, mode, extra, size):
  n_up = base.family.n_up + int(np.log2(size / base.data.image_size))
  config = config_lib.with_family(base, **{
      "norm_mode": mode, "n_up": n_up, "use_vae": False, "add_dist": False,
      **extra})
  data = dataclasses.replace(base.data, image_size=size)
  return dataclasses.replace(config, data=data)


def _measure(config, repeats):
  from s2f_tf import train  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as workdir:
    state = train.setup(config, workdir)
    batch = next(iter(state.dataset))
    steps = state.steps
    step_ms = timing.median_ms(lambda: (steps.function("d_step")(batch), steps.function("g_step")(batch)),
                         repeats)
    one = {k: v[:1] for k, v in batch.items()}
    inputs = {"labels": one["mask"], "refs": one["refs"],
              "ref_labels": one["ref_mask"], "donor_refs": one["refs"],
              "donor_ref_labels": one["ref_mask"],
              "swap": tf.zeros([1, config.family.label_nc])}
    sample_ms = timing.median_ms(lambda: state.sample(inputs).numpy(), repeats)
    g = state.generator
    norm_params = sum(int(np.prod(v.shape)) for v in g.trainable_variables
                      if "/norm_" in v.path)
    return g.count_params(), norm_params, step_ms, sample_ms


def main(argv):
  del argv
  base = s2f_flags.config_from_flags()
  print(f"batch {base.train.batch_size}, {os.cpu_count()} CPUs, "
        f"median of {FLAGS.repeats}")
  print("| mode | px | G params | of which norms | D+G step (ms) | "
        "sample, batch 1 (ms) |")
  print("|---|---:|---:|---:|---:|---:|")
  for size in map(int, FLAGS.sizes):
    for mode, extra in MODES:
      config = _config(base, mode, extra, size)
      params, norms, step_ms, sample_ms = _measure(config, FLAGS.repeats)
      name = mode + (" +dist" if extra else "")
      print(f"| {name} | {size} | {params:,} | {norms:,} | {step_ms:.0f} | "
            f"{sample_ms:.1f} |", flush=True)


if __name__ == "__main__":
  app.run(main)
