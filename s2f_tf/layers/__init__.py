"""Layers shared by every model family, one module per kind.

  normalization  instance norm, ILN, AdaLIN (float32 statistics)
  spectral_norm  W / sigma(W) for Conv2D and Dense kernels
  blocks         reflection-padded conv, residual blocks
  attention      U-GAT-IT's class-activation-map attention
"""
