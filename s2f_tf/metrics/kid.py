"""Kernel Inception Distance. Binkowski et al. 2018, arXiv:1801.01401.

KID is the unbiased estimate of the squared MMD between Inception pool_3
features of real and generated images, with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3. Unlike FID it has an unbiased estimator, so it
can be compared across sample sizes. Two estimators are in use, and a
published KID is comparable only under the one it used (docs/metrics.md):

- `kid` ("subsets", the default): as the paper's code (MMD-GAN's
  compute_scores.py) and torch-fidelity, the mean of the unbiased MMD^2
  over random subsets (100 of 1000 images from each set, drawn without
  replacement), with the standard deviation over subsets.
- `kid_blocks` ("blocks", --kid_protocol=blocks): TF-GAN's
  `kernel_classifier_distance_and_std`, the block estimator of Zaremba et
  al. 2013 (arXiv:1307.1954): both sets cut in order into near-equal
  blocks of at most `max_block_size`, the mean of the blocks' unbiased
  MMD^2, and the standard error of that mean. U-GAT-IT's Table 3 (KID x100
  with "std") came from it with blocks of 10 on 100 test images per domain
  (the authors' GAN_Metrics-Tensorflow).

Too few images is an error, as in that code (NumPy refuses to draw 1000 of
240 without replacement) and in torch-fidelity: silently shrinking the
subsets would change what the number means.
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
  """Unbiased MMD^2 of samples of m and n rows (m, n >= 2) under the cubic
  kernel: each within-set mean over its own m (m - 1) or n (n - 1)
  off-diagonal pairs, the cross term over all m n.

  The within-set means leave out the diagonal k(x_i, x_i): including it
  (the biased V-statistic) adds a positive term that shrinks only as 1/n.
  The subsets estimator draws equal sizes; TF-GAN's blocks may differ by
  the sets' sizes.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m, n = len(x), len(y)
  k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
  return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) +
               (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1)) -
               2 * polynomial_kernel(x, y).mean())


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


# U-GAT-IT's published KIDs: TF-GAN's estimator with max_block_size=10.
U_GAT_IT_BLOCK_SIZE = 10


@dataclasses.dataclass(frozen=True)
class KidBlocks:
  mean: float
  std_error: float
  blocks: int
  max_block_size: int


def _block_edges(count: int, blocks: int) -> np.ndarray:
  """Edges of `blocks` consecutive blocks of `count` rows: the last
  count % blocks blocks one row longer than the others."""
  small = count // blocks
  sizes = [small] * (blocks - count % blocks) + [small + 1] * (count % blocks)
  return np.concatenate([[0], np.cumsum(sizes)])


def kid_blocks(real: np.ndarray, fake: np.ndarray,
               max_block_size: int = U_GAT_IT_BLOCK_SIZE) -> KidBlocks:
  """KID of two feature sets [n, d] by TF-GAN's block estimator (module
  docstring): ceil(max(n_real, n_fake) / max_block_size) blocks of each set,
  in the given order (so the sets must not be sorted by anything).

  Raises:
    KidError: if there are fewer than 2 blocks (no standard error) or a
      block of either set would hold fewer than 2 images.
  """
  blocks = -(-max(len(real), len(fake)) // max_block_size)
  fewest = min(len(real), len(fake))
  if blocks < 2 or fewest < 2 * blocks:
    raise KidError(
        f"KID's blocks of {max_block_size} need more than {max_block_size} "
        f"images per set and at least 2 per block, got {len(real)} real and "
        f"{len(fake)} generated; evaluate more images (U-GAT-IT's protocol: "
        "100 per domain)")
  edges_r, edges_f = _block_edges(len(real), blocks), _block_edges(
      len(fake), blocks)
  values = np.array([
      mmd2_unbiased(real[edges_r[i]:edges_r[i + 1]],
                    fake[edges_f[i]:edges_f[i + 1]])
      for i in range(blocks)])
  # Bessel-corrected variance of the blocks, over their count: the standard
  # error of their mean, which TF-GAN (and U-GAT-IT's table) call "std".
  std_error = float(np.sqrt(values.var(ddof=1) / blocks))
  return KidBlocks(float(values.mean()), std_error, blocks, max_block_size)
