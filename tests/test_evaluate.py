"""The few-shot metrics and the style-swap measure on hand-made arrays."""

import numpy as np

from s2f_tf import evaluate


def test_swap_partners_pick_another_identity_or_none():
  np.testing.assert_array_equal(evaluate.swap_partners(np.array([3, 3, 5])),
                                [2, 2, 0])
  np.testing.assert_array_equal(evaluate.swap_partners(np.array([1, 1])),
                                [-1, -1])


def test_psnr_of_identical_images_is_infinite_and_l1_zero():
  x = np.random.RandomState(0).uniform(-1, 1, (2, 16, 16, 3)).astype("f4")
  m = evaluate.image_metrics(x, x)
  np.testing.assert_array_equal(m["l1"], [0, 0])
  assert np.isinf(m["psnr"]).all()
  np.testing.assert_allclose(m["ssim"], 1.0, atol=1e-5)


def test_region_colour_and_toward_new_measure():
  masks = np.zeros((2, 4, 4), np.uint8)
  masks[:, :2] = evaluate.HAIR
  own = np.full((2, 4, 4, 3), -1.0, np.float32)       # Dark hair.
  new = np.full((2, 4, 4, 3), 1.0, np.float32)        # Light hair.
  np.testing.assert_allclose(evaluate.region_colour(new, masks, evaluate.HAIR),
                             np.ones((2, 3)))
  assert np.isnan(evaluate.region_colour(new, masks, evaluate.SKIN)).all()
  output = own.copy()
  swapped = own.copy()
  swapped[0] += 0.5  # Row 0 moved toward the light hair, row 1 did not.
  toward = evaluate._toward_new(output, swapped, masks, own, masks, new,  # pylint: disable=protected-access
                                evaluate.HAIR)
  assert toward == [True, False]
  same = evaluate._toward_new(output, swapped, masks, own, masks, own,  # pylint: disable=protected-access
                              evaluate.HAIR)
  assert same == []  # Identical colours: no evidence either way.
