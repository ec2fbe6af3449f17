"""Convolution blocks: reflection-padded conv, conv-norm-ReLU, up and
residual blocks.

All layers assume channels-last images [B, H, W, C]. The encoders and
decoders of several families stack the same blocks, so they live here; their
layer names are part of every checkpoint's variable paths.
"""

import keras
from keras import ops

from s2f_tf.layers import normalization


@keras.saving.register_keras_serializable(package="s2f_tf")
class ReflectConv2D(keras.layers.Conv2D):
  """Conv2D over a reflection-padded input ("same" size at stride 1).

  As in the MUNIT and U-GAT-IT generators (Huang et al. 2018,
  arXiv:1804.04732): with zero padding every conv sees a black frame around
  the image, and it comes back as dark borders on the generated faces.
  """

  def __init__(self, filters, kernel_size, **kwargs):
    if kwargs.pop("padding", "valid") != "valid":
      raise ValueError("ReflectConv2D pads by reflection; padding must be "
                       "'valid' (the default)")
    super().__init__(filters, kernel_size, padding="valid", **kwargs)

  def _pads(self):
    """(before, after) per spatial axis: k - 1 in all, any odd one after."""
    return [((k - 1) // 2, k // 2) for k in self.kernel_size]

  def convolution_op(self, inputs, kernel):
    # Padding here, not in call(): `SpectralNorm` convolves through this op
    # with its normalised kernel, so a wrapped ReflectConv2D pads too.
    paddings = [(0, 0), *self._pads(), (0, 0)]
    return super().convolution_op(ops.pad(inputs, paddings, mode="reflect"),
                                  kernel)

  def compute_output_shape(self, input_shape):
    padded = [None if d is None else d + before + after
              for d, (before, after) in zip(input_shape[1:3], self._pads())]
    return super().compute_output_shape(
        (input_shape[0], *padded, input_shape[3]))


def residual_image(images, residual):
  """clip(images + residual, -1, 1) in float32: a generator's
  `residual_output` (U-GAT-IT, CycleGAN).

  Not in either paper (both end in tanh): an option for short runs. With its
  last conv zeroed (`zero_weights`) the generator starts as the identity
  mapping and only has to learn the change of style, not first to redraw
  the whole image through its instance-normalised bottleneck.
  """
  return ops.clip(ops.cast(images, "float32") + ops.cast(residual, "float32"),
                  -1.0, 1.0)


def zero_weights(layer) -> None:
  """Sets every weight of a built `layer` to 0."""
  for v in layer.weights:
    v.assign(ops.zeros(v.shape, v.dtype))


def conv_norm_relu(filters, kernel_size, strides, name, use_bias=True):
  """Reflection-padded conv, instance norm, ReLU, as a list to stack.

  The encoder unit of MUNIT (Huang et al. 2018, arXiv:1804.04732) and of
  SPADE's and SEAN's encoders. A list, not a Sequential, so its layers sit
  directly in the caller's stack and keep the variable paths `name/...`,
  `name_norm/...`. Instance norm subtracts any bias, so `use_bias=False`
  (U-GAT-IT, CycleGAN) only drops dead weights.
  """
  return [ReflectConv2D(filters, kernel_size, strides=strides,
                        use_bias=use_bias, name=name),
          normalization.InstanceNorm(name=f"{name}_norm"),
          keras.layers.ReLU(name=f"{name}_relu")]


def transposed_conv_norm_relu(filters, name):
  """3x3 stride-2 transposed conv, instance norm, ReLU, as a list to stack.

  The "fractional-strided" up-sampling unit of Johnson et al.'s ResNet
  generator (arXiv:1603.08155), as CycleGAN (arXiv:1703.10593) and
  pix2pixHD's global generator (arXiv:1711.11585) use it. No bias: the
  norm subtracts it.
  """
  return [keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same",
                                       use_bias=False, name=name),
          normalization.InstanceNorm(name=f"{name}_norm"),
          keras.layers.ReLU(name=f"{name}_relu")]


def up_block(filters, name, kernel_size=5, use_bias=True):
  """Nearest x2, conv, ILN, ReLU: resize-conv avoids checkerboard artefacts.

  Odena et al. 2016, doi:10.23915/distill.00003; ILN as in U-GAT-IT (Kim et
  al. 2020, arXiv:1907.10830). MUNIT's 5x5 kernel by default; U-GAT-IT's is
  3x3, without bias.
  """
  return keras.Sequential([
      keras.layers.UpSampling2D(2, interpolation="nearest", name="upsample"),
      ReflectConv2D(filters, kernel_size, use_bias=use_bias, name="conv"),
      normalization.LayerInstanceNorm(name="iln"),
      keras.layers.ReLU(name="relu"),
  ], name=name)


@keras.saving.register_keras_serializable(package="s2f_tf")
class ResBlock(keras.layers.Layer):
  """conv-IN-ReLU-conv-IN plus identity, at constant width.

  He et al. 2016, arXiv:1512.03385, with instance norm as in MUNIT's content
  encoder (arXiv:1804.04732) and CycleGAN's generator (arXiv:1703.10593).
  `use_bias=False` drops the biases the norms subtract anyway.
  """

  def __init__(self, filters, use_bias=True, **kwargs):
    super().__init__(**kwargs)
    self.filters, self.use_bias = filters, use_bias
    self.conv_0 = ReflectConv2D(filters, 3, use_bias=use_bias, name="conv_0")
    self.norm_0 = normalization.InstanceNorm(name="norm_0")
    self.conv_1 = ReflectConv2D(filters, 3, use_bias=use_bias, name="conv_1")
    self.norm_1 = normalization.InstanceNorm(name="norm_1")

  def call(self, x):
    y = ops.relu(self.norm_0(self.conv_0(x)))
    return x + self.norm_1(self.conv_1(y))

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "use_bias": self.use_bias}


def resnet_body(channels, n_down, n_blocks, block_name="res"):
  """c7s1-ch, n_down x d(2ch), n_blocks residual blocks at the widest, and
  as many transposed convs back to ch, as a list to stack.

  Johnson et al.'s generator body (arXiv:1603.08155) without its output
  conv: CycleGAN's generator (`block_name="res_block"`) and pix2pixHD's
  global generator and feature encoder (`"res"`) are built on it; the block
  names keep each model's variable paths, which checkpoints depend on.
  """
  stack = conv_norm_relu(channels, 7, 1, "conv_in", use_bias=False)
  for i in range(n_down):
    stack += conv_norm_relu(channels * 2**(i + 1), 3, 2, f"down_{i}",
                            use_bias=False)
  width = channels * 2**n_down
  stack += [ResBlock(width, use_bias=False, name=f"{block_name}_{i}")
            for i in range(n_blocks)]
  for i in range(n_down):
    stack += transposed_conv_norm_relu(width // 2**(i + 1), f"up_{i}")
  return stack


@keras.saving.register_keras_serializable(package="s2f_tf")
class AdaLINResBlock(keras.layers.Layer):
  """conv-AdaLIN-ReLU-conv-AdaLIN plus identity (U-GAT-IT, arXiv:1907.10830).

  Call with (x, params): params [B, 4 * filters] from the style MLP holds
  gamma and beta of `adalin_0`, then gamma and beta of `adalin_1`.
  `use_bias=False` as in U-GAT-IT's decoder.
  """

  def __init__(self, filters, use_bias=True, **kwargs):
    super().__init__(**kwargs)
    self.filters, self.use_bias = filters, use_bias
    self.conv_0 = ReflectConv2D(filters, 3, use_bias=use_bias, name="conv_0")
    self.adalin_0 = normalization.AdaLIN(name="adalin_0")
    self.conv_1 = ReflectConv2D(filters, 3, use_bias=use_bias, name="conv_1")
    self.adalin_1 = normalization.AdaLIN(name="adalin_1")

  def call(self, inputs):
    x, params = inputs
    gamma_0, beta_0, gamma_1, beta_1 = ops.split(params, 4, axis=-1)
    y = ops.relu(self.adalin_0((self.conv_0(x), gamma_0, beta_0)))
    return x + self.adalin_1((self.conv_1(y), gamma_1, beta_1))

  def compute_output_shape(self, input_shape):
    return input_shape[0]

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "use_bias": self.use_bias}
