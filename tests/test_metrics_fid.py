"""Tests for s2f_tf.metrics.fid against closed forms and NumPy references."""

import numpy as np
import pytest

from s2f_tf.metrics import fid


def _random_cov(rng, d):
  a = rng.randn(d, d)
  return a @ a.T / d + 0.1 * np.eye(d)


def test_diagonal_gaussians_match_closed_form():
  # Diagonal covariances commute: Tr (S1 S2)^(1/2) = sum sqrt(s1 s2).
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.5])
  s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 4.0])
  expected = (np.sum((mu1 - mu2)**2) + np.sum(s1 + s2)
              - 2 * np.sum(np.sqrt(s1 * s2)))
  got = fid.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
  assert got == pytest.approx(expected, rel=1e-12)


def test_non_commuting_covariances_match_eigenvalues_of_product():
  # Independent route: Tr sqrtm(S1 S2) = sum sqrt(eig(S1 S2)), the
  # non-symmetric product's eigenvalues (real and positive for SPD S1, S2).
  rng = np.random.RandomState(0)
  s1, s2 = _random_cov(rng, 6), _random_cov(rng, 6)
  mu1, mu2 = rng.randn(6), rng.randn(6)
  trace_sqrt = np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()
  expected = np.sum((mu1 - mu2)**2) + np.trace(s1 + s2) - 2 * trace_sqrt
  assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected,
                                                                rel=1e-10)


def test_self_distance_is_zero_even_for_singular_covariance():
  # 40 samples of 64-d features: the covariance is singular, as with too
  # few images for 2048 features; no diagonal offset is needed.
  features = np.random.RandomState(1).randn(40, 64)
  stats = fid.Stats()
  stats.update(features)
  mu, sigma = stats.mu_sigma()
  assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-8 * np.trace(
      sigma)


def test_symmetric_and_sensitive_to_translation():
  rng = np.random.RandomState(2)
  s1, s2 = _random_cov(rng, 5), _random_cov(rng, 5)
  mu = rng.randn(5)
  d12 = fid.frechet_distance(mu, s1, mu, s2)
  assert d12 == pytest.approx(fid.frechet_distance(mu, s2, mu, s1), rel=1e-10)
  shift = np.array([3.0, 0, 0, 0, 0])
  # A translation adds exactly ||shift||^2.
  assert fid.frechet_distance(mu + shift, s1, mu, s2) == pytest.approx(
      d12 + 9.0, rel=1e-10)


def test_streaming_stats_equal_numpy_mean_and_cov():
  # A large offset makes the naive sum(x x^T) - n mu mu^T lose digits.
  features = 1e4 + np.random.RandomState(3).randn(1000, 8)
  stats = fid.Stats()
  for i in range(0, 1000, 128):
    stats.update(features[i:i + 128].astype(np.float32))
  mu, sigma = stats.mu_sigma()
  reference = features.astype(np.float32).astype(np.float64)
  np.testing.assert_allclose(mu, reference.mean(axis=0), rtol=1e-12)
  np.testing.assert_allclose(sigma, np.cov(reference, rowvar=False),
                             rtol=1e-9, atol=1e-9)
  assert stats.count == 1000


def test_too_few_images_for_statistics_is_one_clear_line():
  stats = fid.Stats()
  stats.update(np.zeros((1, 4)))
  with pytest.raises(ValueError, match="at least 2 images, got 1"):
    stats.mu_sigma()


def test_stats_npz_round_trip_in_ttur_format(tmp_path):
  rng = np.random.RandomState(4)
  mu, sigma = rng.randn(7), _random_cov(rng, 7)
  path = str(tmp_path / "stats.npz")
  fid.save_stats(path, mu, sigma)
  with np.load(path) as data:  # exactly TTUR's keys
    assert sorted(data.keys()) == ["mu", "sigma"]
  loaded_mu, loaded_sigma = fid.load_stats(path)
  np.testing.assert_array_equal(loaded_mu, mu)
  np.testing.assert_array_equal(loaded_sigma, sigma)


def test_stats_file_with_other_keys_is_rejected(tmp_path):
  path = str(tmp_path / "other.npz")
  np.savez(path, mean=np.zeros(3))
  with pytest.raises(ValueError, match="not 'mu' and 'sigma'"):
    fid.load_stats(path)
