"""NME in the photo frame (the JD protocol) against the crop frame, worked by hand."""
import cv2
import numpy as np
import pytest

from lotr_gluon.data.align import transform_points
from lotr_gluon.engine.evaluator import EvalResult, mean_shape_in_photo
from lotr_gluon.metrics import nme

H = 10 / np.sqrt(2)  # half the diagonal of a square of side 10
# A square face rolled by 45 degrees in the photo: its landmark box is 14.14 x 14.14 there.
PHOTO = np.array([[[50.0, 50 - H], [50 + H, 50.0], [50.0, 50 + H], [50 - H, 50.0]]])
# Alignment: rotate it upright and scale by 2, so in the crop it is a 20 x 20 square.
MATRIX = cv2.getRotationMatrix2D((50.0, 50.0), 45.0, 2.0)


def test_a_rolled_face_scores_differently_in_the_photo_and_in_the_crop():
    crop_gt = transform_points(PHOTO[0], MATRIX)[None]
    np.testing.assert_allclose(np.ptp(crop_gt[0], axis=0), [20.0, 20.0], atol=1e-9)
    pred = crop_gt + np.array([2.0, 0.0])  # every point 2 px off in the crop
    in_crop = EvalResult(nme(pred, crop_gt), nme(pred, crop_gt), pred, pred, crop_gt)
    in_photo = in_crop.in_photo(MATRIX[None], PHOTO)
    # Crop: 2 px over d = sqrt(20 * 20) = 20 -> 0.10. Photo: the 2 px shrink to 1 px (the
    # inverse scale is 1/2), over d = sqrt(14.14 * 14.14) = 14.14 -> 0.0707: sqrt(2) lower.
    assert in_crop.nme[0] == pytest.approx(0.10)
    assert in_photo.nme[0] == pytest.approx(1 / (10 * np.sqrt(2)))
    np.testing.assert_allclose(in_photo.gt, PHOTO)
    offsets = in_photo.pred[0] - PHOTO[0]
    np.testing.assert_allclose(np.linalg.norm(offsets, axis=1), 1.0)


def test_the_mean_shape_baseline_in_the_photo():
    # Training crops (0,0)-(4,4) and (2,0)-(6,4): mean shape (1,0)-(5,4). Identity alignment:
    # the evaluated face (1,3)-(5,7) has a 4 x 4 box, d = 4, both points 3 px off -> 3/4.
    train = np.array([[[0.0, 0.0], [4.0, 4.0]], [[2.0, 0.0], [6.0, 4.0]]])
    identity = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    assert mean_shape_in_photo(train, identity, np.array([[[1.0, 3.0], [5.0, 7.0]]])) == \
        pytest.approx(0.75)
    # The same, the photo twice as large: the guess is mapped back by the inverse (x2), the
    # face is (2,6)-(10,14): d = 8, both points 6 px off -> still 3/4.
    halve = np.array([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])
    assert mean_shape_in_photo(train, halve, np.array([[[2.0, 6.0], [10.0, 14.0]]])) == \
        pytest.approx(0.75)
