"""LAMB with and without layer adaptation, against a numpy transcription of You et al. 2020
(Algorithm 2), and the optimizer and schedule builders."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from lotr_gluon.config import TrainConfig
from lotr_gluon.engine.optimizer import SelectiveLAMB, build_optimizer, build_scheduler

BETA1, BETA2, EPS, LR = 0.9, 0.999, 1e-6, 0.01


def numpy_lamb(w, grads, adapt):
    """LAMB steps for one array: Adam moments, bias correction, then the trust ratio
    ||w|| / ||r|| (taken as 1 when either norm is 0) unless ``adapt`` is False."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = BETA1 * m + (1 - BETA1) * g
        v = BETA2 * v + (1 - BETA2) * g * g
        r = (m / (1 - BETA1 ** t)) / (np.sqrt(v / (1 - BETA2 ** t)) + EPS)
        w_norm, r_norm = np.linalg.norm(w), np.linalg.norm(r)
        ratio = w_norm / r_norm if adapt and w_norm > 0 and r_norm > 0 else 1.0
        w = w - LR * ratio * r
    return w


def _train_dense(exclude, steps=3):
    layer = gluon.nn.Dense(3, in_units=4, prefix="dense_")
    layer.initialize(mx.init.Constant(0.5))
    layer.bias.set_data(mx.nd.array([1e-4, -2e-4, 0.0]))  # near zero, like the queries
    start = {name: p.data().asnumpy().copy() for name, p in layer.collect_params().items()}
    trainer = gluon.Trainer(layer.collect_params(),
                            SelectiveLAMB(exclude=exclude, learning_rate=LR, beta1=BETA1,
                                          beta2=BETA2, epsilon=EPS))
    rng = np.random.RandomState(0)
    grads = {name: [] for name in start}
    for _ in range(steps):
        x = mx.nd.array(rng.randn(2, 4))
        with autograd.record():
            loss = (layer(x) ** 2).sum()
        loss.backward()
        for name, p in layer.collect_params().items():
            grads[name].append(p.grad().asnumpy().copy())
        trainer.step(1)
    return layer, start, grads


@pytest.mark.parametrize("exclude", [(), ("bias",)])
def test_lamb_matches_the_algorithm_with_and_without_adaptation(exclude):
    layer, start, grads = _train_dense(exclude)
    for name, p in layer.collect_params().items():
        adapt = not name.endswith(exclude) if exclude else True
        expected = numpy_lamb(start[name], grads[name], adapt)
        np.testing.assert_allclose(p.data().asnumpy(), expected, rtol=1e-4, atol=1e-7,
                                   err_msg=name)


def test_a_near_zero_parameter_moves_only_without_adaptation():
    """With layer adaptation a 1e-4 bias moves by ~lr * 1e-4 per step; excluded, by ~lr."""
    adapted, start, _ = _train_dense(())
    plain, _, _ = _train_dense(("bias",))
    moved_adapted = np.abs(adapted.bias.data().asnumpy() - start["dense_bias"]).max()
    moved_plain = np.abs(plain.bias.data().asnumpy() - start["dense_bias"]).max()
    assert moved_adapted < 1e-5
    assert moved_plain > 0.5 * LR


def test_builders():
    t = TrainConfig(epochs=10, lr=1e-3, lr_steps=[5, 20], lr_factor=0.1, warmup_iters=4,
                    optimizer="lamb", lamb_exclude=["bias"])
    scheduler = build_scheduler(t, iters_per_epoch=10)
    assert scheduler(2) == pytest.approx(0.5e-3)  # halfway through the linear warmup
    assert scheduler(49) == pytest.approx(1e-3)
    assert scheduler(51) == pytest.approx(1e-4)  # epoch 5 of 10; epoch 20 is past the end
    assert isinstance(build_optimizer(t, scheduler), SelectiveLAMB)
    adam = build_optimizer(TrainConfig(optimizer="adam", lr_steps=[]), None)
    assert isinstance(adam, mx.optimizer.Adam)
    assert build_scheduler(TrainConfig(lr_steps=[], warmup_iters=0), 10) is None
    cosine = build_scheduler(TrainConfig(epochs=10, lr=1e-3, lr_factor=0.1, warmup_iters=0,
                                         lr_schedule="cosine"), iters_per_epoch=10)
    assert cosine(50) == pytest.approx(0.55e-3)  # halfway: the mean of 1e-3 and 1e-4
    assert cosine(100) == pytest.approx(1e-4)
    short = build_scheduler(TrainConfig(epochs=1, lr=1e-3, warmup_iters=50,
                                        lr_schedule="cosine"), iters_per_epoch=10)
    assert short(51) == pytest.approx(1e-4)  # warmup longer than the run: no error
