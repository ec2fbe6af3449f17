"""TensorBoard HParams: a run's flags and final metrics, side by side.

`tensorboard --logdir runs/` then lists every run in the HParams tab, one row
per run with its flags and metrics, filterable and sortable. Each run writes
into its own `workdir/hparams/` log dir: TensorBoard makes that folder the
session and reads the metrics from the scalars in it.
"""

import glob
import os
from typing import Dict, Mapping, Optional, Union

from tensorboard.plugins.hparams import api as hp
import tensorflow as tf

from s2f_tf import config as config_lib

HPARAMS_DIR = "hparams"
Value = Union[bool, int, float, str]


def hparams_of(config: config_lib.Config) -> Dict[str, Value]:
  """The config as flag name -> value, as a user types it (`--g_lr`).

  Every config field is exactly one flag (`config.flag_name`), so the names
  are unique and match the command line.
  """
  return {config_lib.flag_name(section, key): value
          for section, fields in config.to_dict().items()
          for key, value in fields.items()}


def write_hparams(workdir: str, config: config_lib.Config,
                  metrics: Optional[Mapping[str, float]] = None,
                  step: int = 0) -> str:
  """Writes the run's hparams (and metrics) to `workdir/hparams/`.

  Call at the start of a run (metrics unknown yet) and again after each
  evaluation. Each call replaces the previous file: TensorBoard keeps the
  first session-start record it reads, so a resumed run with new flags
  would otherwise show its old ones. Returns the log dir.
  """
  logdir = os.path.join(workdir, HPARAMS_DIR)
  for old in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
    os.remove(old)
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default(step=step):
    # No trial_id: TensorBoard then groups runs by their hparams, so two
    # folders with the same basename in different sweeps never merge.
    hp.hparams(hparams_of(config))
    for name, value in (metrics or {}).items():
      tf.summary.scalar(name, float(value))
  writer.close()
  return logdir
