"""Class-activation-map attention (U-GAT-IT)."""

import keras
from keras import ops

from s2f_tf.layers import spectral_norm as spectral_norm_lib


@keras.saving.register_keras_serializable(package="s2f_tf")
class CAMAttention(keras.layers.Layer):
  """Class-activation-map attention with its auxiliary classifier.

  U-GAT-IT, Kim et al. 2020, arXiv:1907.10830 (Sec. 2.1). A classifier reads
  the global average-pooled (GAP) and global max-pooled (GMP) features
  through one bias-free logit each; its weight w_c says how much channel c
  decides the class, so scaling channel c by w_c (a class activation map,
  Zhou et al. 2016, arXiv:1512.04150) stresses the regions that tell the
  classes apart. As in the paper, GAP and GMP have their own weights: the
  two reweighted maps are concatenated and a 1x1 conv plus activation brings
  them back to the input's C channels.

  Call with features [B, H, W, C]; returns (features [B, H, W, C], logits
  float32 [B, 2] (GAP, GMP)). What the logits classify is the caller's
  choice (see `s2f_tf.models.few_shot` and `s2f_tf.models.ugatit`);
  `heatmap` turns the features into U-GAT-IT's attention map.

  Args:
    negative_slope: of the output LeakyReLU: 0 (ReLU) in U-GAT-IT's
      generator, 0.2 in its discriminator.
    spectral_norm: spectral norm on both logits and the 1x1 conv, as in
      U-GAT-IT's discriminator; channels are then scaled by W / sigma(W).
  """

  def __init__(self, negative_slope=0.0, spectral_norm=False, **kwargs):
    # The classifier's weights are read here, outside their layers' calls: a
    # float32 policy and autocast=False keep every autocast scope away, as
    # for `SpectralNorm`. Pooling and logits run in float32; the reweighted
    # maps keep the input's dtype and the 1x1 conv its own policy.
    kwargs.setdefault("dtype", "float32")
    super().__init__(autocast=False, **kwargs)
    self.negative_slope, self.spectral_norm = negative_slope, spectral_norm
    dense = lambda name: keras.layers.Dense(1, use_bias=False, name=name)
    wrap = spectral_norm_lib.maybe_spectral_norm
    self.gap_fc = wrap(dense, "gap_fc", "dense", spectral_norm)
    self.gmp_fc = wrap(dense, "gmp_fc", "dense", spectral_norm)
    self.conv = None  # Needs the input's channels: made in build().

  def build(self, input_shape):
    channels = input_shape[-1]
    for fc in (self.gap_fc, self.gmp_fc):
      fc.build((None, channels))
    self.conv = spectral_norm_lib.maybe_spectral_norm(
        lambda name: keras.layers.Conv2D(channels, 1, name=name), "conv_1x1",
        "conv", self.spectral_norm)
    self.conv.build((*input_shape[:-1], 2 * channels))

  def _weights(self, fc, training):
    """The classifier's effective kernel [C, 1], float32."""
    if self.spectral_norm:
      return fc.normalized_kernel(training)
    return ops.cast(fc.kernel, "float32")

  def call(self, x, training=None):
    x32 = ops.cast(x, "float32")
    pooled = (ops.mean(x32, axis=(1, 2)), ops.max(x32, axis=(1, 2)))
    logits, maps = [], []
    for features, fc in zip(pooled, (self.gap_fc, self.gmp_fc)):
      w = self._weights(fc, training)
      logits.append(ops.matmul(features, w))
      maps.append(x * ops.cast(w[:, 0], x.dtype))
    y = self.conv(ops.concatenate(maps, axis=-1), training=training)
    y = ops.leaky_relu(y, negative_slope=self.negative_slope)
    return y, ops.concatenate(logits, axis=-1)

  def compute_output_shape(self, input_shape):
    return input_shape, (input_shape[0], 2)

  def get_config(self):
    return {**super().get_config(), "negative_slope": self.negative_slope,
            "spectral_norm": self.spectral_norm}



def heatmap(features):
  """U-GAT-IT's attention map: CAM's output summed over channels.

  Kim et al. 2020, arXiv:1907.10830 (Fig. 2 and the authors' code): where
  the reweighted features are large is where the auxiliary classifier looks.
  `features` is `CAMAttention`'s first output [B, H, W, C]; returns float32
  [B, H, W, 1], summed in float32 (a bfloat16 sum over 2048 channels keeps
  ~3 significant digits).
  """
  return ops.sum(ops.cast(features, "float32"), axis=-1, keepdims=True)
