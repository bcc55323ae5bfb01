"""NME, failure rate, AUC and CED on hand-worked examples."""
import numpy as np
import pytest

from lotr_gluon.data.landmarks import get_schema
from lotr_gluon.metrics import auc, ced, failure_rate, nme


def test_nme_bbox_worked_example():
    # GT box 4 x 9 -> d = sqrt(36) = 6. Errors: 3 (x only) and 0 -> mean 1.5 -> NME 0.25.
    gt = np.array([[[0.0, 0.0], [4.0, 9.0]]])
    pred = np.array([[[3.0, 0.0], [4.0, 9.0]]])
    assert nme(pred, gt) == pytest.approx([0.25])


def test_nme_inter_ocular_uses_schema_eye_corners():
    schema = get_schema("300w68")
    gt = np.zeros((68, 2))
    gt[:, 0] = np.linspace(0, 67, 68)
    gt[36] = [10.0, 0.0]
    gt[45] = [50.0, 30.0]  # outer corners 50 apart
    pred = gt + np.array([0.0, 2.0])  # every point 2 px off
    assert nme(pred, gt, "inter_ocular", schema) == pytest.approx([2.0 / 50.0])


def test_nme_inter_pupil_uses_eye_centres():
    schema = get_schema("jd106")
    gt = np.random.RandomState(0).uniform(0, 100, (1, 106, 2))
    gt[0, 104], gt[0, 105] = [20.0, 40.0], [60.0, 10.0]  # pupils 50 apart
    pred = gt.copy()
    pred[0, :, 0] += 1.0
    assert nme(pred, gt, "inter_pupil", schema) == pytest.approx([1.0 / 50.0])


def test_auc_and_failure_rate_worked_example():
    # CED: 0 until 0.02, 1/3 until 0.04, 2/3 until 0.08 (0.1 fails).
    # Area = 1/3 * 0.02 + 2/3 * 0.04 = 0.1/3; AUC = (0.1/3) / 0.08 = 0.41667.
    nmes = np.array([0.02, 0.04, 0.10])
    assert auc(nmes) == pytest.approx(0.1 / 3 / 0.08)
    assert failure_rate(nmes) == pytest.approx(1 / 3)


def test_auc_matches_numerical_integral_of_ced():
    nmes = np.random.RandomState(3).gamma(2.0, 0.012, 500)
    errors, fraction = ced(nmes, 0.08, num=200001)
    assert auc(nmes) == pytest.approx(np.trapz(fraction, errors) / 0.08, abs=1e-4)
    assert fraction[0] == 0.0 and fraction[-1] == pytest.approx(np.mean(nmes <= 0.08))


def test_perfect_and_hopeless():
    assert auc(np.zeros(4)) == 1.0 and failure_rate(np.zeros(4)) == 0.0
    assert auc(np.full(4, 0.5)) == 0.0 and failure_rate(np.full(4, 0.5)) == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        auc(np.array([]))
    with pytest.raises(ValueError, match="must both be"):
        nme(np.zeros((2, 5, 2)), np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="degenerate"):
        nme(np.zeros((1, 3, 2)), np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="needs the landmark schema"):
        nme(np.ones((1, 3, 2)), np.ones((1, 3, 2)), "inter_ocular")
