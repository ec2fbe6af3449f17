"""Tests for s2f_tf.models.patchgan: the PatchGAN both families share."""

import tensorflow as tf

from s2f_tf import config as config_lib
from s2f_tf import config_families
from s2f_tf.models import few_shot
from s2f_tf.models import label2face
from s2f_tf.models import patchgan

TINY = config_lib.tiny_config().family
TINY_LABELS = config_families.Label2FaceConfig(
    n_up=2, num_d=TINY.num_d, d_layers=TINY.d_layers,
    d_channels=TINY.d_channels)
SIZE = 32


def test_logits_and_features_split_every_scale():
  d = patchgan.build_discriminator(TINY, SIZE, condition_channels=2)
  outputs = d((tf.zeros([2, SIZE, SIZE, 3]), tf.zeros([2, SIZE, SIZE, 2])))
  logits, features = patchgan.logits(outputs), patchgan.features(outputs)
  assert len(logits) == len(features) == TINY.num_d
  for (scale_logits, scale_features), l, f in zip(outputs, logits, features):
    assert l is scale_logits and f is scale_features
    assert l.shape[-1] == 1 and len(f) == TINY.d_layers + 1


def test_both_families_build_it_under_the_same_paths():
  """Checkpoints are keyed by path: a family's D keeps its old paths."""
  sketch_d = few_shot.build_discriminator(TINY, SIZE)
  label_d = label2face.build_discriminator(TINY_LABELS, SIZE)
  assert type(sketch_d) is type(label_d) is patchgan.MultiScaleDiscriminator
  paths = lambda d: sorted(v.path for v in d.variables)
  assert paths(sketch_d) == paths(label_d)
  assert "discriminator/scale_1/conv_0/conv/kernel" in paths(sketch_d)
  first = lambda d: d.scales[0].convs[0].layer.kernel.shape[2]
  assert (first(sketch_d), first(label_d)) == (3 + 1, 3 + TINY_LABELS.label_nc)
