"""--lr_decay_steps: constant rates, then a linear fall to 0 (pix2pix)."""

import numpy as np
import pytest

from s2f_tf import config as config_lib
from s2f_tf import schedules
from s2f_tf import train


def test_linear_decay_matches_its_closed_form():
  schedule = schedules.LinearDecay(1e-3, total=100, decay=40)
  updates = np.array([0, 30, 60, 70, 80, 99, 100, 120])
  expected = 1e-3 * np.clip((100 - updates) / 40, 0, 1)
  got = [float(schedule(u)) for u in updates]
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  assert got[2] == pytest.approx(1e-3) and got[4] == pytest.approx(5e-4)
  assert got[-2] == 0.0 and got[-1] == 0.0


def test_zero_decay_keeps_the_plain_float_rate():
  assert schedules.learning_rate(2e-4, steps=100, decay_steps=0) == 2e-4


def test_runs_decay_both_players_in_their_own_updates(tiny_config, tmp_path):
  """D makes n_critic updates per step, so its curve is n_critic times longer;
  both reach 0 exactly when the run ends, and a resumed run continues on it."""
  # Fewer layers and no EMA generator: building and tracing the steps
  # (twice: the run and its resume) are the cost, and the schedules depend
  # on neither.
  config = config_lib.with_family(
      tiny_config(steps=4, lr_decay_steps=2, n_critic=2, g_lr=1e-3,
                  d_lr=4e-3, checkpoint_every=4, ema_beta=0.0),
      n_downsample=1, num_d=1, d_layers=1)
  state = train.setup(config, str(tmp_path))
  assert float(state.g_opt.learning_rate) == pytest.approx(1e-3)
  assert float(state.d_opt.learning_rate) == pytest.approx(4e-3)
  # Halfway through the decay: G at update 3 of 4, D at update 6 of 8.
  state.g_opt.iterations.assign(3)
  state.d_opt.iterations.assign(6)
  assert float(state.g_opt.learning_rate) == pytest.approx(5e-4)
  assert float(state.d_opt.learning_rate) == pytest.approx(2e-3)
  state.g_opt.iterations.assign(0)
  state.d_opt.iterations.assign(0)
  train.Loop(state).run()
  resumed = train.setup(config, str(tmp_path))
  assert int(resumed.g_opt.iterations) == 4
  assert int(resumed.d_opt.iterations) == 8
  assert float(resumed.g_opt.learning_rate) == 0.0
  assert float(resumed.d_opt.learning_rate) == 0.0


def test_decay_longer_than_the_run_is_refused():
  config = config_lib.tiny_config(steps=10, lr_decay_steps=11)
  with pytest.raises(ValueError, match=r"--lr_decay_steps=11 must be in"):
    config_lib.validate(config)
