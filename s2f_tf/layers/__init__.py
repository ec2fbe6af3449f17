"""Layers shared by every model family, one module per kind.

  normalization  instance norm, ILN, AdaLIN (float32 statistics)
  spectral_norm  W / sigma(W) for Conv2D and Dense kernels
  blocks         reflection-padded conv, conv-norm-ReLU and up blocks,
                 residual blocks
  attention      U-GAT-IT's class-activation-map attention and heatmap
  equalized      equalized-learning-rate Dense and Conv2D (ProGAN, StyleGAN2)
  modulated_conv StyleGAN2's modulated conv, noise input, minibatch stddev
  excitation     FastGAN's skip-layer excitation and GLU
"""
