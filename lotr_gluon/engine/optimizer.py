"""Optimizer and learning-rate schedule from a :class:`~lotr_gluon.config.TrainConfig`.

LAMB (You et al. 2020) scales each parameter's Adam-style step by the trust ratio
``||w|| / ||step||``. MXNet's ``lamb`` does that for every array. A parameter that starts at or
near zero then barely moves: the landmark queries (N(0, 1e-4)), and every bias, BatchNorm and
LayerNorm shift after its first step; their step is ``lr * ||w||``, so they grow by at most
``lr`` relative per step. The reference LAMB of BERT excludes biases and normalisation
parameters from this layer adaptation; ``train.lamb_exclude`` names the parameters that take
a plain Adam step instead (matched by the end of the parameter name).
"""
from __future__ import annotations

from typing import Optional, Sequence

import mxnet as mx

from ..config import TrainConfig


class SelectiveLAMB(mx.optimizer.LAMB):
    """LAMB whose trust ratio is switched off for the parameters named in ``exclude``.

    Parameters
    ----------
    exclude : sequence of str
        Name endings (``bias``, ``gamma``, ``beta``, ``queries``): such a parameter gets the
        bias-corrected Adam step ``lr * m / (sqrt(v) + eps)`` with no trust ratio and no
        weight decay. Every other parameter is updated exactly as MXNet's ``lamb``.
    **kwargs
        As :class:`mxnet.optimizer.LAMB`.
    """

    def __init__(self, exclude: Sequence[str] = (), **kwargs):
        super().__init__(**kwargs)
        self.exclude = tuple(exclude)
        self._names = {}  # index -> parameter name, kept when pickled to a kvstore server

    def _name(self, index) -> str:
        if index not in self._names:
            param = self.param_dict.get(index)
            self._names[index] = (param.name if param is not None
                                  else self.idx2name.get(index, ""))
        return self._names[index]

    def _excluded(self, index) -> bool:
        return bool(self.exclude) and self._name(index).endswith(self.exclude)

    def __getstate__(self):
        # A distributed kvstore pickles the optimizer to its servers without param_dict; take
        # the names along so that the servers exclude the same parameters.
        for index in self.param_dict:
            self._name(index)
        return super().__getstate__()

    def _adam_step(self, index, weight, grad, state) -> None:
        self._update_count(index)
        mean, var = state
        step = mx.nd.lamb_update_phase1(
            weight, grad, mean, var, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon,
            t=self._index_update_count[index], bias_correction=self.bias_correction, wd=0.0,
            rescale_grad=self.rescale_grad,
            clip_gradient=self.clip_gradient if self.clip_gradient else -1.0)
        zero = mx.nd.zeros((1,), ctx=weight.context, dtype=weight.dtype)
        # lamb_update_phase2 uses a trust ratio of 1 when ||w|| is 0: a plain Adam step.
        mx.nd.lamb_update_phase2(weight, step, zero, step.norm(), lr=self._get_lr(index),
                                 out=weight)

    def update(self, index, weight, grad, state):
        if not isinstance(index, (list, tuple)):
            index, weight, grad, state = [index], [weight], [grad], [state]
        adapted = []
        for item in zip(index, weight, grad, state):
            if self._excluded(item[0]):
                self._adam_step(*item)
            else:
                adapted.append(item)
        if adapted:
            i, w, g, s = (list(column) for column in zip(*adapted))
            if len(i) == 1 or self.aggregate_num <= 1:
                for one in zip(i, w, g, s):
                    super().update(*one)
            else:
                super().update(i, w, g, s)

    def update_multi_precision(self, index, weight, grad, state):
        self.update(index, weight, grad, state)


def build_scheduler(t: TrainConfig, iters_per_epoch: int
                    ) -> Optional[mx.lr_scheduler.LRScheduler]:
    """The learning rate per update, after a linear warmup of ``t.warmup_iters``.

    ``step`` (the paper's): times ``t.lr_factor`` at each of ``t.lr_steps`` (epochs).
    ``cosine``: half a cosine from ``t.lr`` down to ``t.lr * t.lr_factor`` at the last update.
    """
    if t.lr_schedule == "cosine":
        # MXNet's cosine needs at least one update after the warmup.
        total = max(t.epochs * iters_per_epoch, t.warmup_iters + 1)
        return mx.lr_scheduler.CosineScheduler(
            max_update=total, base_lr=t.lr, final_lr=t.lr * t.lr_factor,
            warmup_steps=t.warmup_iters, warmup_begin_lr=0.0)
    steps = [s * iters_per_epoch for s in t.lr_steps if 0 < s < t.epochs]
    if not (steps or t.warmup_iters):
        return None
    return mx.lr_scheduler.MultiFactorScheduler(
        step=steps or [t.epochs * iters_per_epoch + 1], factor=t.lr_factor, base_lr=t.lr,
        warmup_steps=t.warmup_iters, warmup_begin_lr=0.0, warmup_mode="linear")


def build_optimizer(t: TrainConfig, scheduler: Optional[mx.lr_scheduler.LRScheduler]
                    ) -> mx.optimizer.Optimizer:
    """The optimizer ``t.optimizer`` (any MXNet name), with ``t.lamb_exclude`` for LAMB."""
    params = {"learning_rate": t.lr, "wd": t.wd, "lr_scheduler": scheduler}
    if t.optimizer == "lamb":
        return SelectiveLAMB(exclude=t.lamb_exclude, **params)
    return mx.optimizer.create(t.optimizer, **params)
