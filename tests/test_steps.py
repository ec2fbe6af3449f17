"""The compiled steps: XLA and plain graphs compute the same updates."""

import numpy as np

from s2f_tf import train

STEPS = 3


def _train(config, workdir, batch=None):
  """(batch, G output before, G output after STEPS D+G steps, losses)."""
  state = train.setup(config, workdir)
  batch = batch if batch is not None else next(iter(state.dataset))
  inputs = {"sketch": batch["sketch"], "refs": batch["refs"]}
  before = state.generator(inputs).numpy()
  losses = []
  for _ in range(STEPS):
    for kind in ("d_step", "g_step"):
      out = state.steps.function(kind)(batch)
      assert float(out.all_finite) == 1.0
      losses.append({k: float(v) for k, v in out.measurements.items()})
  return batch, before, state.generator(inputs).numpy(), losses


def test_jit_compiled_steps_match_the_plain_ones(tiny_config, tmp_path):
  batch, before, plain, plain_losses = _train(tiny_config(),
                                              str(tmp_path / "plain"))
  _, jit_before, jit, jit_losses = _train(tiny_config(jit_compile=True),
                                          str(tmp_path / "jit"), batch)
  np.testing.assert_array_equal(jit_before, before)  # Same start.
  for plain_step, jit_step in zip(plain_losses, jit_losses):
    for name, value in plain_step.items():
      np.testing.assert_allclose(jit_step[name], value, rtol=1e-3, atol=1e-5,
                                 err_msg=name)
  # XLA and plain updates agree far more closely than either moved G.
  moved = np.abs(plain - before).mean()
  assert moved > 0
  assert np.abs(jit - plain).mean() < 0.02 * moved
