"""Losses against the paper's formulas evaluated independently in numpy."""
import math

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from lotr_gluon.losses import get_loss

POINTS = np.array([-25.0, -10.0, -3.0, -0.5, -0.01, -0.004, 0.0, 0.004, 0.01, 0.3, 1.0, 2.5,
                   9.99, 10.0, 10.01, 40.0])


def wing_ref(x, w=10.0, eps=2.0):
    c = w - w * math.log(1 + w / eps)
    return w * math.log(1 + abs(x) / eps) if abs(x) < w else abs(x) - c


def smooth_wing_paper(x, t=0.01, w=10.0, eps=2.0):
    """Section 3.2 as printed, c2 = s t^2."""
    s = (w + eps) / (2 * t * (eps + t))
    c1 = w - (w + eps) * math.log(1 + w / eps)
    c2 = s * t * t
    a = abs(x)
    if a < t:
        return s * x * x
    if a > w:
        return a - c1 - c2
    return (w + eps) * math.log(1 + a / eps) - c2


REFERENCES = {
    "l1": lambda x: abs(x),
    "l2": lambda x: x * x / 2,
    "smooth_l1": lambda x: x * x / 2 if abs(x) < 1 else abs(x) - 0.5,
    "wing": wing_ref,
}


def elementwise(loss, x):
    return loss.elementwise(mx.nd, mx.nd.array(np.asarray(x, dtype=np.float64),
                                                dtype="float64")).asnumpy()


def gradient(loss, x):
    arr = mx.nd.array(np.asarray(x, dtype=np.float64), dtype="float64")
    arr.attach_grad()
    with autograd.record():
        y = loss.elementwise(mx.nd, arr)
    y.backward()
    return arr.grad.asnumpy()


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_formula(name):
    got = elementwise(get_loss(name), POINTS)
    want = [REFERENCES[name](x) for x in POINTS]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_smooth_wing_equals_paper_up_to_the_constant_that_closes_the_jump():
    t, w, eps = 0.01, 10.0, 2.0
    s = (w + eps) / (2 * t * (eps + t))
    jump = (w + eps) * math.log(1 + t / eps) - 2 * s * t * t  # the paper's gap at |x| = t
    assert jump == pytest.approx(1.49e-4, rel=0.01)
    got = elementwise(get_loss("smooth_wing"), POINTS)
    for x, g in zip(POINTS, got):
        expected = smooth_wing_paper(x) - (jump if abs(x) >= t else 0.0)
        assert g == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_smooth_wing_gradient_is_the_papers():
    t, w, eps = 0.01, 10.0, 2.0
    s = (w + eps) / (2 * t * (eps + t))
    xs = np.array([-30.0, -5.0, -0.005, 0.0, 0.003, 0.5, 7.0, 12.0])
    want = [2 * s * x if abs(x) < t else (np.sign(x) if abs(x) > w
                                            else np.sign(x) * (w + eps) / (eps + abs(x)))
            for x in xs]
    np.testing.assert_allclose(gradient(get_loss("smooth_wing"), xs), want, rtol=1e-9)


@pytest.mark.parametrize("knot", [0.01, 10.0])
def test_smooth_wing_value_and_derivative_continuous(knot):
    loss = get_loss("smooth_wing")
    delta = 1e-9
    for sign in (1.0, -1.0):
        below, above = sign * (knot - delta), sign * (knot + delta)
        v = elementwise(loss, [below, above])
        d = gradient(loss, [below, above])
        assert v[1] == pytest.approx(v[0], rel=1e-4)
        assert d[1] == pytest.approx(d[0], rel=1e-4)
    assert gradient(loss, [0.0])[0] == 0.0


def test_wing_derivative_jumps_at_w():
    d = gradient(get_loss("wing"), [10.0 - 1e-9, 10.0 + 1e-9])
    assert d[0] == pytest.approx(10.0 / 12.0, rel=1e-6)  # w / (w + eps)
    assert d[1] == pytest.approx(1.0)


def test_loss_sums_landmarks_per_sample_and_hybridizes():
    pred = mx.nd.array([[[1.0, 2.0], [3.0, -1.0]], [[0.0, 0.0], [0.0, 0.5]]])
    target = mx.nd.zeros((2, 2, 2))
    loss = get_loss("l1")
    np.testing.assert_allclose(loss(pred, target).asnumpy(), [7.0, 0.5])
    loss.hybridize()
    np.testing.assert_allclose(loss(pred, target).asnumpy(), [7.0, 0.5])


def test_scale_changes_the_unit():
    pred, target = mx.nd.array([[[20.0, 0.0]]]), mx.nd.zeros((1, 1, 2))
    # 20 px with scale 1/2: an error of 10 units, exactly at wing's w = 10.
    got = get_loss("wing", scale=0.5)(pred, target).asscalar()
    assert got == pytest.approx(10 * math.log(1 + 10 / 2))


def test_bad_loss_arguments():
    with pytest.raises(ValueError, match="unknown loss 'wingg'"):
        get_loss("wingg")
    with pytest.raises(ValueError, match="does not take \\['omega'\\]"):
        get_loss("wing", omega=3)
    with pytest.raises(ValueError, match="0 < t < w"):
        get_loss("smooth_wing", t=20.0)
