"""`--profile_steps`: a trace appears for the requested steps, and only then."""

import glob
import os

import pytest

from s2f_tf import config as config_lib
from s2f_tf import train


def _shallow(config):
  """`config` with fewer layers: building and tracing the steps are these
  runs' cost, and whether a trace is written does not depend on the depth
  (nor on an EMA generator, which the runs leave out: ema_beta=0)."""
  return config_lib.with_family(config, n_downsample=1, num_d=1, d_layers=1)


def _traces(workdir):
  return glob.glob(os.path.join(workdir, "train", "plugins", "profile", "*",
                                "*.xplane.pb"))


def test_profile_steps_write_one_trace(tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  train.run(_shallow(tiny_config(steps=4, log_every=2, profile_steps="2,3",
                                 ema_beta=0.0)), workdir)
  traces = _traces(workdir)
  assert len(traces) == 1 and os.path.getsize(traces[0]) > 0


def test_no_trace_without_profile_steps(tiny_config, tmp_path):
  workdir = str(tmp_path / "run")
  train.run(_shallow(tiny_config(steps=2, log_every=2, ema_beta=0.0)),
            workdir)
  assert not _traces(workdir)


@pytest.mark.parametrize("spec", ["3", "3,2", "a,b", "1,2,3", "-1,2"])
def test_bad_profile_steps_fail_in_one_line(spec):
  config = config_lib.tiny_config(root="x", profile_steps=spec)
  with pytest.raises(ValueError, match="--profile_steps"):
    config_lib.validate(config)
