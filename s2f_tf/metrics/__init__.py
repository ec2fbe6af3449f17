"""What the evaluation measures, one module per kind of metric.

  image         L1, PSNR and SSIM of generated images against their targets
  heldout       held-out episodes, swap partners, region colours and the
                baselines the reference-driven families share
  few_shot      held-out few-shot evaluation against two honest baselines
  label2face    class colour and region swap of label-map -> face
  inception     pool_3 features of the 2015-12-05 Inception graph (FID, KID)
  fid           Frechet Inception Distance and its cached statistics
  kid           Kernel Inception Distance
  swd           sliced Wasserstein distance on Laplacian-pyramid patches
  distribution  SWD, FID and KID of a (real, generated) stream in one pass
  registry      the stream evaluators --metrics can name (swd, fid, kid)

`s2f_tf.evaluate` runs a task's metrics and writes them (eval.json,
TensorBoard); the modules here only compute and never download anything.
"""
