"""Tests for s2f_tf.metrics.kid against an independent NumPy computation."""

import numpy as np
import pytest

from s2f_tf.metrics import kid


def _mmd2_by_loops(x, y):
  """Unbiased MMD^2 written from the definition, pair by pair, for sets of
  m and n rows."""
  d, m, n = x.shape[1], len(x), len(y)
  k = lambda a, b: (a @ b / d + 1.0)**3
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
  return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)


def test_mmd2_matches_definition():
  rng = np.random.RandomState(0)
  x, y = rng.randn(12, 5), rng.randn(12, 5) + 0.5
  assert kid.mmd2_unbiased(x, y) == pytest.approx(_mmd2_by_loops(x, y),
                                                  rel=1e-10)
  assert kid.mmd2_unbiased(x, y[:7]) == pytest.approx(
      _mmd2_by_loops(x, y[:7]), rel=1e-10)


def test_identical_sets_give_about_zero():
  x = np.random.RandomState(1).randn(200, 16)
  result = kid.kid(x, x.copy(), subsets=20, subset_size=100)
  far = kid.kid(x, x + 1.0, subsets=20, subset_size=100)
  assert abs(result.mean) < 0.05 * far.mean
  assert far.mean > 0


def test_unbiased_over_draws_where_biased_estimator_is_not():
  # Two samples of the same distribution: the unbiased estimate averages
  # to 0 over many draws, while keeping the diagonal (the V-statistic)
  # is positive on average.
  rng = np.random.RandomState(2)
  unbiased, biased = [], []
  for _ in range(300):
    x, y = rng.randn(10, 3), rng.randn(10, 3)
    unbiased.append(kid.mmd2_unbiased(x, y))
    k = kid.polynomial_kernel
    biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
  stderr = np.std(unbiased) / np.sqrt(len(unbiased))
  assert abs(np.mean(unbiased)) < 3 * stderr
  assert np.mean(biased) > 10 * stderr


def test_kid_reports_mean_and_std_over_subsets():
  rng = np.random.RandomState(3)
  real, fake = rng.randn(60, 4), rng.randn(60, 4) + 0.3
  result = kid.kid(real, fake, subsets=5, subset_size=30, seed=7)
  again = np.random.RandomState(7)
  values = [kid.mmd2_unbiased(real[again.choice(60, 30, replace=False)],
                              fake[again.choice(60, 30, replace=False)])
            for _ in range(5)]
  assert result.mean == pytest.approx(np.mean(values))
  assert result.std == pytest.approx(np.std(values))
  assert (result.subsets, result.subset_size) == (5, 30)


def test_too_few_images_for_subset_size_is_one_clear_line():
  x = np.zeros((240, 4))
  with pytest.raises(kid.KidError, match="at least 1000 images per set.*"
                     "got 240 real and 240 generated"):
    kid.kid(x, x)


def test_blocks_of_ten_over_a_hundred_images_as_u_gat_it_reported():
  """U-GAT-IT's protocol: 100 test images per domain, TF-GAN's blocks of
  10 taken in order, the mean and the standard error of the 10 blocks."""
  rng = np.random.RandomState(4)
  real, fake = rng.randn(100, 6), rng.randn(100, 6) + 0.2
  values = [_mmd2_by_loops(real[i:i + 10], fake[i:i + 10])
            for i in range(0, 100, 10)]
  result = kid.kid_blocks(real, fake, max_block_size=10)
  assert (result.blocks, result.max_block_size) == (10, 10)
  assert result.mean == pytest.approx(np.mean(values), rel=1e-10)
  assert result.std_error == pytest.approx(
      np.std(values, ddof=1) / np.sqrt(10), rel=1e-10)


def test_uneven_sets_split_into_near_equal_blocks_longest_last():
  # ceil(23 / 10) = 3 blocks: real 7 + 8 + 8 rows, generated 5 + 6 + 6.
  rng = np.random.RandomState(5)
  real, fake = rng.randn(23, 3), rng.randn(17, 3)
  edges_r, edges_f = (0, 7, 15, 23), (0, 5, 11, 17)
  values = [_mmd2_by_loops(real[edges_r[i]:edges_r[i + 1]],
                                   fake[edges_f[i]:edges_f[i + 1]])
            for i in range(3)]
  result = kid.kid_blocks(real, fake, max_block_size=10)
  assert result.blocks == 3
  assert result.mean == pytest.approx(np.mean(values), rel=1e-10)
  assert result.std_error == pytest.approx(
      np.std(values, ddof=1) / np.sqrt(3), rel=1e-10)


@pytest.mark.parametrize("n_real,n_fake", [(10, 10), (30, 5)])
def test_blocks_need_two_blocks_of_two_images(n_real, n_fake):
  rng = np.random.RandomState(6)
  with pytest.raises(kid.KidError,
                     match=f"got {n_real} real and {n_fake} generated"):
    kid.kid_blocks(rng.randn(n_real, 3), rng.randn(n_fake, 3), 10)
