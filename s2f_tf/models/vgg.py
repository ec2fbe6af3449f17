"""A frozen VGG19 feature extractor for the perceptual loss, from a file only.

Simonyan & Zisserman 2015, arXiv:1409.1556. SPADE and pix2pixHD compare
relu1_1 ... relu5_1 features of real and fake images
(`losses.perceptual_loss`). Nothing here downloads: the user passes a Keras
weights file of `keras.applications.VGG19(include_top=False)`, written on a
machine that has the ImageNet weights with

  keras.applications.VGG19(include_top=False).save_weights("vgg19.weights.h5")

and a missing or mismatched file is a one-line error before training.
"""

import os
import warnings

import keras
from keras import ops

# Keras names of relu1_1 ... relu5_1 (each conv carries its ReLU).
VGG19_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1",
                "block4_conv1", "block5_conv1")


def _vgg19():
  return keras.applications.VGG19(include_top=False, weights=None,
                                  input_shape=(None, None, 3))


def load_features(path, build=_vgg19, layers=VGG19_LAYERS):
  """images [B, H, W, 3] in [-1, 1] -> [feature map float32 per layer].

  Args:
    path: the `.weights.h5` file of `build()`'s model.
    build: makes the network, with weights=None (tests pass a small one
      with the same layer names).
    layers: names of the layers whose outputs are returned.

  Raises:
    FileNotFoundError: no file at `path`.
    ValueError: the file does not hold this network's weights.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"--vgg_weights={path!r} not found: save it where the ImageNet "
        "weights exist with keras.applications.VGG19(include_top=False)"
        f".save_weights('{os.path.basename(path) or 'vgg19.weights.h5'}')")
  network = build()
  try:
    with warnings.catch_warnings():  # Keras warns per layer, then raises.
      warnings.simplefilter("ignore")
      network.load_weights(path)
  except (ValueError, KeyError, OSError) as e:
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
    raise ValueError(
        f"--vgg_weights={path!r} does not hold the weights of "
        f"{network.name} (include_top=False): {first_line}") from None
  outputs = [network.get_layer(name).output for name in layers]
  extractor = keras.Model(network.input, outputs, name="vgg_features")
  extractor.trainable = False

  def features(images):
    # VGG's Caffe preprocessing: BGR, ImageNet mean subtracted, 0..255
    # (the inverse of pixels.to_unit, without its rounding).
    rgb = (ops.cast(images, "float32") + 1.0) * 127.5
    bgr = rgb[..., ::-1] - ops.convert_to_tensor([103.939, 116.779, 123.68])
    return [ops.cast(f, "float32") for f in extractor(bgr, training=False)]

  return features
