"""Kernel Inception Distance. Binkowski et al. 2018, arXiv:1801.01401.

KID is the unbiased estimate of the squared MMD between Inception pool_3
features of real and generated images, with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3. Unlike FID it has an unbiased estimator, so it
can be compared across sample sizes. As the paper's code (MMD-GAN's
compute_scores.py) and U-GAT-IT do, we average it over random subsets
(default 100 subsets of 1000 images from each set, drawn without
replacement) and report the mean and the standard deviation over subsets.

Too few images for the subset size is an error, as in that code (NumPy
refuses to draw 1000 of 240 without replacement) and in torch-fidelity:
silently shrinking the subsets would change what the number means.
"""

import dataclasses

import numpy as np


class KidError(ValueError):
  """Too few images for the requested KID subsets."""


@dataclasses.dataclass(frozen=True)
class Kid:
  mean: float
  std: float
  subsets: int
  subset_size: int


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """(x.y / d + 1)^3 for all pairs of rows: [n, d], [m, d] -> [n, m]."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 of two equal-sized samples under the cubic kernel.

  The within-set means leave out the diagonal k(x_i, x_i): including it
  (the biased V-statistic) adds a positive term that shrinks only as 1/n.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  n = len(x)
  k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
  within = ((k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy)))
  return float(within / (n * (n - 1)) - 2 * polynomial_kernel(x, y).mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> Kid:
  """KID of two feature sets [n, d]: mean and std of `mmd2_unbiased` over
  `subsets` random subsets of `subset_size` rows of each set.

  Raises:
    KidError: if either set has fewer than `subset_size` rows.
  """
  fewest = min(len(real), len(fake))
  if fewest < max(subset_size, 2):
    raise KidError(
        f"KID needs at least {subset_size} images per set for subsets of "
        f"{subset_size}, got {len(real)} real and {len(fake)} generated; "
        "evaluate more images or lower the KID subset size")
  rng = np.random.RandomState(seed)
  values = [
      mmd2_unbiased(real[rng.choice(len(real), subset_size, replace=False)],
                    fake[rng.choice(len(fake), subset_size, replace=False)])
      for _ in range(subsets)
  ]
  return Kid(float(np.mean(values)), float(np.std(values)), subsets,
             subset_size)
