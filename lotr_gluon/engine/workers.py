"""This process's place in a training job: one worker alone, or one of several on MXNet's
parameter server (started by ``tools/launch.py``), and what differs between the workers.

As DETR's ``util/misc.py`` (``init_distributed_mode``, ``is_main_process``,
``save_on_master``): the Trainer asks a :class:`Worker` and keeps no rank arithmetic of its
own. Worker 0, the chief, validates and writes the run folder; every worker trains its shard
of each global batch.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable, Optional

import mxnet as mx
from mxnet import gluon

from ..config import ConfigError

KVSTORES = ("device", "local", "nccl", "dist_sync", "dist_device_sync")


@dataclass(frozen=True)
class Worker:
    """One worker of a training job.

    Attributes
    ----------
    kvstore : str or mxnet.kvstore.KVStore
        What ``gluon.Trainer`` sums gradients through.
    rank, num_workers : int
        This worker's index and the job's number of workers (0 and 1 when alone).
    """

    kvstore: object
    rank: int = 0
    num_workers: int = 1

    @property
    def is_chief(self) -> bool:
        """Worker 0: it validates, logs and writes the run folder."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Several workers: the optimizer runs on the servers and every worker pulls the same
        weights (``update_on_kvstore``). With local updates the last parameter's final value
        differed between workers in some runs (measured, 2 of 5)."""
        return self.num_workers > 1

    def chief_only(self, report: Callable[[str], None]) -> Callable[[str], None]:
        """``report`` on the chief; on the other workers a function that prints nothing."""
        return report if self.is_chief else (lambda message: None)

    def local_batch(self, global_batch: int) -> int:
        """This worker's share of ``train.batch_size``, the global batch."""
        if global_batch % self.num_workers:
            raise ConfigError(f"train.batch_size {global_batch} (the global batch) is not "
                              f"divisible by the {self.num_workers} workers")
        return global_batch // self.num_workers

    def seed_epoch(self, seed: int, finish_initialisation: Callable[[], None]) -> None:
        """Seed MXNet's generator for an epoch: ``seed + rank``, so each worker's dropout
        differs. Several workers first finish initialisation, which is deferred to the first
        forward, each from ``seed`` itself: the kvstore hands out worker 0's weights only at
        the first update, after every worker's first gradient, which must have been computed
        at the same weights. Once the parameters have values ``finish_initialisation`` is
        a no-op."""
        if self.distributed:
            mx.random.seed(seed)
            finish_initialisation()
        mx.random.seed(seed + self.rank)

    def local_trainer(self, trainer: gluon.Trainer) -> Optional[gluon.Trainer]:
        """The trainer whose optimizer state a checkpoint saves and restores: None in a
        distributed job, whose optimizer moments live on the servers."""
        return None if self.distributed else trainer

    def resume_schedule(self, trainer: gluon.Trainer, updates: int,
                        report: Callable[[str], None]) -> None:
        """After a restore: a distributed job's schedule continues at ``updates`` and its
        moments restart from zero (one worker alone restored both from the checkpoint)."""
        if not self.distributed:
            return
        trainer.optimizer.begin_num_update = trainer.optimizer.num_update = updates
        report("note: a distributed job keeps optimizer moments on the servers; they restart "
               "from zero on resume (weights and schedule do not)")


def open_worker(kvstore: str) -> Worker:
    """The worker this process is, with kvstore ``kvstore``.

    ``device``, ``local`` and ``nccl`` train alone. Distributed kvstores need the environment
    ``tools/launch.py`` sets (DMLC_ROLE and the scheduler's address); asynchronous ones are
    refused because workers would diverge.
    """
    if kvstore not in KVSTORES:
        raise ConfigError(f"unknown kvstore {kvstore!r}; expected one of {KVSTORES}")
    if not kvstore.startswith("dist"):
        return Worker(kvstore)
    if "DMLC_ROLE" not in os.environ:
        raise ConfigError(f"--kvstore {kvstore} needs the parameter-server environment: start "
                          f"the job with tools/launch.py (docs/scaling-out.md)")
    store = mx.kv.create(kvstore)
    return Worker(store, store.rank, store.num_workers)


def parameter_checksum(net: gluon.Block, ctx: mx.Context) -> str:
    """SHA-1 of the trainable parameters: equal on all workers of a synchronous job.

    BatchNorm running statistics are left out: each worker accumulates them from its own
    shard (as in any data-parallel job without synchronised BatchNorm); worker 0's are the
    ones checkpointed.
    """
    digest = hashlib.sha1()
    for name, param in sorted(net.collect_params().items()):
        if param.grad_req == "null":
            continue
        digest.update(name.encode())
        digest.update(param.data(ctx).asnumpy().tobytes())
    return digest.hexdigest()[:16]
