"""Tests for s2f_tf.metrics.label2face: region measures against closed forms."""

import numpy as np

from s2f_tf.data import layout
from s2f_tf.metrics import heldout
from s2f_tf.metrics import label2face

HAIR, SKIN = layout.CLASS_ID["hair"], layout.CLASS_ID["skin"]


def test_class_colour_error_is_the_distance_of_region_means():
  masks = np.zeros((2, 4, 4), np.int32)
  masks[:, :2] = HAIR
  target = np.zeros((2, 4, 4, 3), np.float32)
  output = target.copy()
  output[0, :2] = [0.3, 0.4, 0.0]  # Hair off by 0.5 in image 0 only.
  errors = heldout.class_colour_error(output, target, masks, 19)
  assert set(errors) == {"background", "hair"}
  np.testing.assert_allclose(errors["hair"], 0.25, rtol=1e-6)
  assert errors["background"] == 0.0
  assert heldout.class_colour_error(output, target, masks, 19,
                                    classes=("hair", "skin")) == {
                                        "hair": errors["hair"]}


def test_region_change_separates_inside_from_outside():
  masks = np.full((1, 4, 4), SKIN)
  masks[0, 0] = HAIR  # One row of hair: 4 of 16 pixels.
  output = np.zeros((1, 4, 4, 3), np.float32)
  changed = output.copy()
  changed[0, 0] = 0.6
  changed[0, 3, 3] = 0.3
  inside, outside = label2face.region_change(output, changed, masks, HAIR)
  np.testing.assert_allclose(inside, [0.6])
  np.testing.assert_allclose(outside, [0.3 / 12])


def test_heldout_metrics_plumbing_with_a_known_generator(tiny_data_root):
  from s2f_tf.data import reader  # pylint: disable=g-import-not-at-top
  faces = reader.load_face_set(tiny_data_root, 16)

  def generate(labels, refs, ref_labels, donor_refs=None,
               donor_ref_labels=None, swap=None, sketch=None):
    del refs, ref_labels, donor_refs, donor_ref_labels
    # Every call gets the targets' sketches (pix2pixHD's boundary channel).
    assert sketch.shape == labels.shape + (1,)
    out = np.zeros(labels.shape + (3,), np.float32)
    if swap is not None:  # Paints the swapped region white, nothing else.
      out[labels == HAIR] = 1.0
    return out

  mean = np.zeros((16, 16, 3), np.float32)
  results = label2face.heldout_metrics(generate, faces, mean, 4, 2, 8, 19,
                                       swap_class=HAIR)
  assert results["examples"] == 8
  assert results["psnr_gain_db_vs_mean_train_photo"] == 0.0
  assert results["psnr_gain_db_vs_other_identity_refs"] == 0.0
  swap = results["region_swap_hair"]
  assert swap["change_inside"] == 1.0 and swap["change_outside"] == 0.0
  assert set(results["model"]) == {"l1", "psnr", "ssim"}
  assert results["class_colour_error"]["hair"] > 0
