"""The held-out few-shot metrics, on hand-made arrays and stub generators."""

import numpy as np
import pytest

from s2f_tf.data import reader
from s2f_tf.metrics import few_shot
from s2f_tf.metrics import heldout
from s2f_tf.metrics import image


def test_swap_partners_pick_another_identity_or_none():
  np.testing.assert_array_equal(heldout.swap_partners(np.array([3, 3, 5])),
                                [2, 2, 0])
  np.testing.assert_array_equal(heldout.swap_partners(np.array([1, 1])),
                                [-1, -1])


def test_psnr_of_identical_images_is_infinite_and_l1_zero():
  x = np.random.RandomState(0).uniform(-1, 1, (2, 16, 16, 3)).astype("f4")
  m = image.image_metrics(x, x)
  np.testing.assert_array_equal(m["l1"], [0, 0])
  assert np.isinf(m["psnr"]).all()
  np.testing.assert_allclose(m["ssim"], 1.0, atol=1e-5)


def test_psnr_matches_its_formula():
  a = np.zeros((1, 8, 8, 3), np.float32)
  b = np.full((1, 8, 8, 3), 0.2, np.float32)  # 0.1 apart on [0, 1].
  np.testing.assert_allclose(image.image_metrics(a, b)["psnr"],
                             [10 * np.log10(1 / 0.01)], rtol=1e-5)


def test_region_colour_is_the_mean_inside_the_mask_or_nan():
  masks = np.zeros((2, 4, 4), np.uint8)
  masks[:, :2] = few_shot.HAIR
  images = np.zeros((2, 4, 4, 3), np.float32)
  images[:, :2] = 0.5
  np.testing.assert_allclose(
      heldout.region_colour(images, masks, few_shot.HAIR), np.full((2, 3), .5))
  assert np.isnan(heldout.region_colour(images, masks, few_shot.SKIN)).all()


@pytest.fixture(scope="module")
def face_sets(tiny_data_root):
  from s2f_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  return reader.load_splits(config_lib.tiny_config(root=tiny_data_root).data)


def test_a_generator_that_ignores_the_references_gains_nothing(face_sets):
  train_set, heldout_set = face_sets
  mean = heldout.mean_photo(train_set)
  ignore_refs = lambda sketch, refs: np.broadcast_to(
      mean, sketch.shape[:3] + (3,)).copy()
  results = few_shot.heldout_metrics(ignore_refs, heldout_set, mean,
                                     batch_size=4, k_refs=2, max_episodes=8)
  assert results["model"] == results["mean_train_photo"]
  assert results["psnr_gain_db_vs_mean_train_photo"] == 0.0
  assert results["psnr_gain_db_vs_other_identity_style"] == pytest.approx(
      0.0, abs=1e-9)
  # Swapping references changed nothing, so nothing moved toward anyone.
  for fraction in results["style_swap_toward_new_refs"].values():
    assert fraction == 0.0 or np.isnan(fraction)
  assert results["episodes"] == 8


def test_a_generator_that_paints_the_references_moves_toward_them(face_sets):
  train_set, heldout_set = face_sets
  first_ref = lambda sketch, refs: refs[:, 0]
  results = few_shot.heldout_metrics(
      first_ref, heldout_set, heldout.mean_photo(train_set), batch_size=4,
      k_refs=2, max_episodes=16)
  toward = results["style_swap_toward_new_refs"]
  assert toward["skin"] > 0.8
  assert results["psnr_gain_db_vs_other_identity_style"] > 0


def test_baseline_results_average_batches_and_gain_over_each_baseline():
  row = lambda *psnr: {"l1": np.zeros(len(psnr)), "ssim": np.ones(len(psnr)),
                       "psnr": np.array(psnr)}
  per = {"model": [row(20.0, 22.0), row(24.0)],
         "mean_train_photo": [row(10.0), row(12.0, 14.0)]}
  results = heldout.baseline_results(per, "episodes", 3)
  assert results["episodes"] == 3
  assert results["model"] == {"l1": 0.0, "psnr": 22.0, "ssim": 1.0}
  assert results["psnr_gain_db_vs_mean_train_photo"] == 10.0
  assert "psnr_gain_db_vs_model" not in results
