"""Tests for s2f_tf.models.vgg: loading VGG19 features from a file only."""

import keras
import numpy as np
import pytest

from s2f_tf.models import vgg


def test_features_come_from_the_file(tmp_path):
  network = keras.applications.VGG19(include_top=False, weights=None,
                                     input_shape=(None, None, 3))
  kernel = network.get_layer("block1_conv1").kernel
  kernel.assign(np.full(kernel.shape, 0.01, "float32"))
  path = str(tmp_path / "vgg19.weights.h5")
  network.save_weights(path)
  features = vgg.load_features(path)
  maps = features(np.zeros((1, 32, 32, 3), "float32"))
  assert [m.shape[-1] for m in maps] == [64, 128, 256, 512, 512]
  # Grey (0 in [-1, 1]) is 127.5 in each channel, minus VGG's BGR means.
  bgr = 127.5 - np.array([103.939, 116.779, 123.68])
  centre = maps[0].numpy()[0, 16, 16, 0]
  np.testing.assert_allclose(centre, max(9 * 0.01 * bgr.sum(), 0), rtol=1e-4)


def test_missing_file_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="--vgg_weights=.*not found"):
    vgg.load_features(str(tmp_path / "absent.weights.h5"))


def test_weights_of_another_network_are_a_clear_error(tmp_path):
  other = keras.Sequential([keras.Input((None, None, 3)),
                            keras.layers.Conv2D(2, 3, name="block1_conv1")])
  path = str(tmp_path / "other.weights.h5")
  other.save_weights(path)
  with pytest.raises(ValueError, match="does not hold the weights of vgg19"):
    vgg.load_features(path)
