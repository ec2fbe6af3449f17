"""Frechet Inception Distance. Heusel et al. 2017, arXiv:1706.08500.

FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Frechet distance
between Gaussians fitted to Inception pool_3 features (see `inception`).

Statistics are float64 running sums, so 50,000 images never sit in memory
at once, and they are cached as `.npz` with the keys `mu` and `sigma`: the
format of TTUR's fid.py, so its published statistics files load here too.
"""

import numpy as np


class Stats:
  """Streaming mean and covariance of feature vectors, in float64.

  The sums are taken around the first batch's mean: that shift leaves the
  covariance unchanged but keeps sum(x x^T) - n mu mu^T from cancelling
  away the digits when the features' mean is large against their spread.
  """

  def __init__(self):
    self.count = 0
    self._shift = self._sum = self._outer = None

  def update(self, features: np.ndarray) -> None:
    """Adds a batch of features [b, d]."""
    x = np.asarray(features, np.float64)
    if self._shift is None:
      self._shift = x.mean(axis=0)
      self._sum = np.zeros_like(self._shift)
      self._outer = np.zeros((x.shape[1], x.shape[1]))
    x = x - self._shift
    self.count += len(x)
    self._sum += x.sum(axis=0)
    self._outer += x.T @ x

  def mu_sigma(self):
    """(mu [d], sigma [d, d]): the mean and the unbiased covariance, as
    `np.mean` and `np.cov(rowvar=False)` give them (and TTUR uses)."""
    if self.count < 2:
      raise ValueError(f"FID statistics need at least 2 images, got "
                       f"{self.count}; evaluate more images")
    mean = self._sum / self.count
    sigma = (self._outer - self.count * np.outer(mean, mean)) / (self.count - 1)
    return self._shift + mean, sigma


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64.

  With S1 = A A^T from a symmetric eigendecomposition (A = V diag(sqrt w)),
  S1 S2 = A (A^T S2) has the eigenvalues of the symmetric matrix A^T S2 A,
  so Tr (S1 S2)^(1/2) is the sum of their square roots. `eigh` is stable
  and real, where TTUR's `scipy.linalg.sqrtm(S1 @ S2)` of the non-symmetric
  product can return small imaginary parts that it then drops. Here
  rounding shows as tiny negative eigenvalues, which we clip to 0: the same
  choice, and no scipy needed. Singular covariances (fewer images than
  features) need no offset on the diagonal; the distance of a set to
  itself is then 0 up to ~1e-8 of Tr S (square roots of rounding noise).
  Cost: one `eigh`, two products and one `eigvalsh` of d x d matrices.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1 = np.asarray(sigma1, np.float64)
  sigma2 = np.asarray(sigma2, np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f"FID statistics differ in shape: mu {mu1.shape} vs "
                     f"{mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
  values, vectors = np.linalg.eigh((sigma1 + sigma1.T) / 2)
  factor = vectors * np.sqrt(np.clip(values, 0, None))
  product = factor.T @ sigma2 @ factor
  eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
  trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
               - 2 * trace_sqrt)


def save_stats(path: str, mu: np.ndarray, sigma: np.ndarray) -> None:
  """Caches statistics as TTUR does: an .npz with `mu` and `sigma`."""
  np.savez(path, mu=mu, sigma=sigma)


def load_stats(path: str):
  """(mu, sigma) from an .npz written by `save_stats` or by TTUR."""
  with np.load(path) as data:
    if "mu" not in data or "sigma" not in data:
      raise ValueError(f"{path} has keys {sorted(data.keys())}, not 'mu' and "
                       "'sigma'; FID statistics files are .npz in TTUR's "
                       "format")
    return data["mu"].astype(np.float64), data["sigma"].astype(np.float64)
