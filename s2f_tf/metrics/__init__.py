"""Sample-quality metrics, one module per metric.

  inception  pool_3 features of the 2015-12-05 Inception graph (FID, KID)
  fid        Frechet Inception Distance and its cached statistics
  kid        Kernel Inception Distance
  swd        sliced Wasserstein distance on Laplacian-pyramid patches

The modules here only compute; they never download anything.
"""
