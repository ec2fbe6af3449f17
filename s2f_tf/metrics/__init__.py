"""What the evaluation measures, one module per kind of metric.

  image     L1, PSNR and SSIM of generated images against their targets
  few_shot  held-out few-shot evaluation against two honest baselines

`s2f_tf.evaluate` runs a task's metrics and writes them (eval.json,
TensorBoard); the modules here only compute.
"""
