"""Per-image L1, PSNR and SSIM of generated images against their targets."""

from typing import Dict

import numpy as np
import tensorflow as tf


def image_metrics(output: np.ndarray, target: np.ndarray
                  ) -> Dict[str, np.ndarray]:
  """Per-image L1, PSNR and SSIM of [-1, 1] images (PSNR/SSIM on [0, 1]).

  SSIM: Wang et al. 2004 (doi:10.1109/TIP.2003.819861), 11x11 Gaussian
  window, or the image size if smaller.
  """
  out01 = tf.constant((output + 1.0) / 2.0, tf.float32)
  tgt01 = tf.constant((target + 1.0) / 2.0, tf.float32)
  return {
      "l1": np.abs(output - target).mean(axis=(1, 2, 3)),
      "psnr": tf.image.psnr(out01, tgt01, max_val=1.0).numpy(),
      "ssim": tf.image.ssim(out01, tgt01, max_val=1.0,
                            filter_size=min(11, output.shape[1])).numpy(),
  }


def mean_over_batches(rows, names=("l1", "psnr", "ssim")) -> Dict[str, float]:
  """The mean of each metric over a list of `image_metrics` results."""
  return {m: float(np.mean(np.concatenate([r[m] for r in rows])))
          for m in names}
