"""The training loop: LAMB, step schedule, multi-device batches, validation, checkpoints.

A run folder holds ``config.yaml`` (the resolved config), ``log.jsonl`` (one JSON line per
epoch), ``last.ckpt`` (resume from it) and ``best.ckpt`` (best validation AUC). Everything
random is seeded by ``train.seed``: initialisation, the data order and augmentation of epoch
``e``, and dropout in epoch ``e`` (MXNet's generator is re-seeded from ``(seed, e)`` at each
epoch), so a resumed run continues exactly as an uninterrupted one would.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..backbone_weights import RANDOM
from ..config import Config, ConfigError, config_to_dict, dump_config
from ..data.dataset import make_loader
from ..errors import UserError
from ..fileio import atomic_write_text
from ..gpu_support import check_gpus
from ..losses import get_loss
from ..metrics import mean_shape
from .builders import build_dataset, build_loss, build_model, carry_schema, schema_of, start_of
from .checkpoint import load_checkpoint, save_checkpoint
from .evaluator import evaluate, gluon_predictor, mean_shape_in_photo
from .optimizer import build_optimizer, build_scheduler
from .workers import open_worker


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the message says where and what was kept."""


@dataclass(frozen=True)
class RunPaths:
    root: str

    @property
    def config(self) -> str:
        return os.path.join(self.root, "config.yaml")

    @property
    def log(self) -> str:
        return os.path.join(self.root, "log.jsonl")

    @property
    def alignment(self) -> str:  # how each split's faces were aligned, and how many
        return os.path.join(self.root, "alignment.json")

    @property
    def damaged(self) -> str:  # the damaged photos each split left out, and how many
        return os.path.join(self.root, "damaged.json")

    @property
    def last(self) -> str:
        return os.path.join(self.root, "last.ckpt")

    @property
    def best(self) -> str:
        return os.path.join(self.root, "best.ckpt")


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 7]).generate_state(1)[0] % (2 ** 31))


def parse_devices(gpus: Optional[str]) -> List[mx.Context]:
    """``"0,1"`` -> two GPU contexts; None or empty -> the CPU."""
    if not gpus:
        return [mx.cpu()]
    try:
        ids = [int(g) for g in gpus.split(",") if g.strip()]
    except ValueError:
        raise UserError(f"--gpus expects comma-separated GPU ids like 0,1; got {gpus!r}") from None
    available = mx.context.num_gpus()
    if not ids or max(ids) >= available:
        raise UserError(f"--gpus {gpus}: this machine has {available} GPU(s) visible to MXNet")
    check_gpus(ids)  # before anything is built: MXNet itself fails only inside the first kernel
    return [mx.gpu(i) for i in ids]


def check_run_folder(paths: RunPaths, resume: bool) -> None:
    """A resumed run needs ``last.ckpt``; a new one must not overwrite one."""
    if resume and not os.path.isfile(paths.last):
        raise FileNotFoundError(f"--resume {paths.root}: no last.ckpt there to resume from")
    if not resume and os.path.isfile(paths.last):
        raise FileExistsError(f"{paths.root} already holds a run (last.ckpt): continue it "
                              f"with --resume {paths.root}, or train into another --out")


def start_amp(ctx: List[mx.Context]) -> None:
    """float16 mixed precision (GPU only); must run before the network is built."""
    if any(c.device_type == "cpu" for c in ctx):
        raise ConfigError("train.amp needs GPUs (--gpus); it is float16 mixed precision")
    from mxnet.contrib import amp
    amp.init()


class Trainer:
    """Trains ``cfg`` into ``run_dir``; :meth:`fit` runs (or resumes) the whole schedule.

    Parameters
    ----------
    cfg : Config
    run_dir : str
        Output folder, created by :meth:`fit` (:meth:`open_run_folder`), not before.
    ctx : list of mx.Context
        Devices; each batch is split across them. Several CPU contexts with ``train.sync_bn``
        need MXNET_CPU_TEMP_COPY raised (to 1024, before MXNet is imported): CPU contexts share
        one pool of workspaces, and two devices waiting for each other at a SyncBatchNorm can
        deadlock on it.
    resume : bool
        Continue from ``run_dir/last.ckpt``.
    progress : bool
        Show tqdm bars.
    kvstore : str
        ``device`` (one process, gradients summed across ``ctx``), ``nccl``, or ``dist_sync`` /
        ``dist_device_sync`` for several worker processes started by ``tools/launch.py``:
        each worker reads its shard of the data, ``train.batch_size`` stays the global batch,
        and only worker 0 validates and writes the run folder (:mod:`.workers`).
    """

    def __init__(self, cfg: Config, run_dir: str, ctx: Optional[List[mx.Context]] = None,
                 resume: bool = False, progress: bool = True, report=print,
                 kvstore: str = "device"):
        self.cfg, self.paths = cfg, RunPaths(run_dir)
        self.ctx = ctx or [mx.cpu()]
        self.worker = open_worker(kvstore)
        self.progress = progress and self.worker.is_chief
        self.report = self.worker.chief_only(report)
        check_run_folder(self.paths, resume)
        if cfg.train.amp:
            if cfg.train.sync_bn and len(self.ctx) > 1:
                raise ConfigError("train.amp with train.sync_bn over several devices: MXNet's "
                                  "SyncBatchNorm has no float16; set train.sync_bn: false")
            start_amp(self.ctx)
        mx.random.seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        self.schema = schema_of(cfg)
        self.cfg = cfg = carry_schema(cfg, self.schema)
        # Before any data is read: a missing ImageNet file stops the run at once.
        self.net = build_model(cfg, self.schema.num_points, self.ctx, restoring=resume)
        self.start = start_of(cfg)  # how the weights started, in every log record
        self.report(_start_line(self.start, len(self.ctx) if cfg.train.sync_bn else 1))
        self._build_data()
        self.loss = build_loss(cfg, self.net)
        self.net.hybridize(static_alloc=True, static_shape=True)
        self.loss.hybridize(static_alloc=True, static_shape=True)
        self.synchronised = cfg.train.sync_bn and len(self.ctx) > 1
        if self.synchronised:
            self._warm_up_devices()
        self.trainer = self._build_gluon_trainer()
        train_landmarks = self.train_set.aligned_landmarks()
        self.val_photo = self.val_set.photo_frame()  # fixed: every validation maps back by it
        self.mean_shape_nme = mean_shape_in_photo(train_landmarks, *self.val_photo,
                                                  schema=self.schema)
        self.mean_shape_loss = self._mean_shape_loss(train_landmarks)
        self.start_epoch, self.best = 0, None
        if resume:
            self._restore()

    def _build_data(self) -> None:
        """The training set (augmented, this worker's shard) and the validation set."""
        cfg, t, size = self.cfg, self.cfg.train, self.net.input_size
        self.worker_batch = self.worker.local_batch(t.batch_size)
        self.train_set = build_dataset(cfg.data, "train", size, augment=True, seed=t.seed,
                                       report=self.report)
        self.val_set = build_dataset(cfg.data, "val", size, seed=t.seed, report=self.report)
        if len(self.train_set) < t.batch_size:
            raise ConfigError(f"train.batch_size {t.batch_size} is larger than the "
                              f"{len(self.train_set)} training samples")
        self.train_loader, self.sampler = make_loader(
            self.train_set, self.worker_batch, shuffle=True, workers=cfg.data.workers,
            seed=t.seed, drop_last=True, shard=self.worker.rank,
            num_shards=self.worker.num_workers)
        self.val_loader, _ = make_loader(self.val_set, t.batch_size, shuffle=False,
                                         workers=cfg.data.workers)
        self.iters_per_epoch = len(self.sampler)

    def _build_gluon_trainer(self) -> gluon.Trainer:
        t = self.cfg.train
        optimizer = build_optimizer(t, build_scheduler(t, self.iters_per_epoch))
        trainer = gluon.Trainer(self.net.collect_params(), optimizer,
                                kvstore=self.worker.kvstore,
                                update_on_kvstore=self.worker.distributed)
        if t.amp:
            from mxnet.contrib import amp
            amp.init_trainer(trainer)
        return trainer

    def _restore(self) -> None:
        """Weights, optimizer state, epoch and best metric from ``last.ckpt``."""
        state = load_checkpoint(self.paths.last, self.net,
                                self.worker.local_trainer(self.trainer), self.ctx)
        self.start_epoch, self.best = state.epoch, state.best_metric
        self.worker.resume_schedule(self.trainer, state.epoch * self.iters_per_epoch,
                                    self.report)
        self.report(f"resumed {self.paths.root} after epoch {state.epoch}")

    def open_run_folder(self) -> None:
        """Create the run folder and write what describes the run (worker 0 only): the
        resolved ``config.yaml``, ``alignment.json`` and ``damaged.json``; log lines of epochs
        after the checkpoint are dropped, since they are trained again. :meth:`fit` calls it
        first; constructing a Trainer writes nothing."""
        os.makedirs(self.paths.root, exist_ok=True)
        if not self.worker.is_chief:
            return
        # A log without last.ckpt (start_epoch 0) is a run stopped before its first checkpoint.
        self._forget_logged_epochs_after(self.start_epoch)
        atomic_write_text(self.paths.config, dump_config(self.cfg))
        atomic_write_text(self.paths.alignment, json.dumps(
            {"train": self.train_set.alignment.as_dict(),
             "val": self.val_set.alignment.as_dict()}, indent=1) + "\n")
        atomic_write_text(self.paths.damaged, json.dumps(
            {"train": self.train_set.damaged_record(),
             "val": self.val_set.damaged_record()}, indent=1) + "\n")

    def _forget_logged_epochs_after(self, epoch: int) -> None:
        """Drop log lines of epochs after the checkpoint (``train.checkpoint_every`` > 1 or a
        crash between the two writes): those epochs are trained again and logged anew."""
        if not os.path.isfile(self.paths.log):
            return
        with open(self.paths.log, encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        kept = [line for line in lines if json.loads(line).get("epoch", 0) <= epoch]
        if len(kept) != len(lines):
            atomic_write_text(self.paths.log, "".join(kept))
            self.report(f"note: {len(lines) - len(kept)} logged epoch(s) after the checkpoint "
                        f"(epoch {epoch}) are trained again")

    def _mean_shape_loss(self, landmarks: np.ndarray) -> Optional[float]:
        """The loss of predicting the training mean shape for every training face (the level a
        model that does not read the image sits at); None for heatmap losses."""
        if self.loss.output_kind != "coordinates":
            return None
        guess = np.broadcast_to(mean_shape(landmarks), landmarks.shape)
        loss = get_loss(self.cfg.loss.name, **self.cfg.loss.options)  # not the hybridized one
        return float(loss(mx.nd.array(guess), mx.nd.array(landmarks)).mean().asscalar())

    def _warm_up_devices(self) -> None:
        """Build the network's and the loss's graphs and each device's buffers one device at
        a time, in predict mode: none of that is safe from the several threads a synchronised
        step runs in (measured: two threads building the loss's graph at once fail in
        Gluon's name scope, and the other thread then waits at a SyncBatchNorm forever)."""
        size, points = self.net.input_size, self.schema.num_points
        images = gluon.utils.split_and_load(mx.nd.zeros((self.worker_batch, 3, size, size)),
                                            self.ctx, even_split=False)
        for part in images:
            targets = mx.nd.zeros((part.shape[0], points, 2), ctx=part.context)
            self.loss(self.net(part), targets).wait_to_read()

    def _finish_initialisation(self) -> None:
        """One forward per device in predict mode: deferred parameters take their values (a
        no-op once they have them)."""
        size = self.net.input_size
        for ctx in self.ctx:
            self.net(mx.nd.zeros((1, 3, size, size), ctx=ctx)).wait_to_read()

    def _device_step(self, x, y):
        with autograd.record():
            loss = self.loss(self.net(x), y)
        loss.backward()
        return loss

    def _loss_and_backward(self, images, targets):
        parts_x = gluon.utils.split_and_load(images, self.ctx, even_split=False)
        parts_y = gluon.utils.split_and_load(targets, self.ctx, even_split=False)
        if self.synchronised:
            # MXNet's SyncBatchNorm blocks the thread that runs it until every device has
            # reached the same layer, so each device runs forward and backward in a thread of
            # its own (as gluoncv's DataParallelModel does); one thread for all deadlocks.
            losses = _in_threads(self._device_step, list(zip(parts_x, parts_y)))
            # The running statistics are written without telling MXNet's engine (measured:
            # read right after the step they can still hold the old values): wait for them.
            mx.nd.waitall()
            return sum(float(l.sum().asscalar()) for l in losses) / images.shape[0]
        with autograd.record():
            losses = [self.loss(self.net(x), y) for x, y in zip(parts_x, parts_y)]
        if self.cfg.train.amp:
            from mxnet.contrib import amp
            with amp.scale_loss(losses, self.trainer) as scaled:
                autograd.backward(scaled)
        else:
            autograd.backward(losses)
        return sum(float(l.sum().asscalar()) for l in losses) / images.shape[0]

    def train_one_epoch(self, epoch: int) -> Dict[str, float]:
        """One pass over the training set; raises :class:`NonFiniteLossError` on NaN/inf."""
        from tqdm import tqdm

        self.worker.seed_epoch(epoch_seed(self.cfg.train.seed, epoch),
                               self._finish_initialisation)
        self.sampler.set_epoch(epoch)
        total, seen, start = 0.0, 0, time.time()
        # disable=None: tqdm turns itself off when the output is not a terminal (CI logs).
        bar = tqdm(self.train_loader, total=self.iters_per_epoch,
                   disable=None if self.progress else True,
                   desc=f"epoch {epoch + 1}/{self.cfg.train.epochs}", unit="it", leave=False)
        for iteration, (images, targets) in enumerate(bar):
            value = self._loss_and_backward(images, targets)
            if not math.isfinite(value):
                kept = (f"the last good checkpoint is {self.paths.last} (after epoch {epoch})"
                        if os.path.isfile(self.paths.last) else "no checkpoint was written yet")
                raise NonFiniteLossError(
                    f"non-finite loss ({value}) at epoch {epoch + 1}, iteration {iteration + 1}: "
                    f"training stopped before the update; {kept}")
            # The kvstore sums gradients over workers: normalise by the global batch.
            self.trainer.step(images.shape[0] * self.worker.num_workers)
            total += value * images.shape[0]
            seen += images.shape[0]
            updates = epoch * self.iters_per_epoch + iteration + 1
            bar.set_postfix(loss=f"{total / seen:.3f}", lr=f"{self.learning_rate(updates):.2e}",
                            img_s=f"{seen / (time.time() - start):.1f}")
        bar.close()
        elapsed = time.time() - start
        return {"loss": total / max(seen, 1), "iteration": (epoch + 1) * self.iters_per_epoch,
                "lr": self.learning_rate((epoch + 1) * self.iters_per_epoch),
                "images_per_s": seen / elapsed, "time_s": elapsed}

    def learning_rate(self, updates: int) -> float:
        """The learning rate after ``updates`` optimizer steps, from the schedule.

        (With several workers the optimizer runs on the servers; the local copy's update count
        does not advance, so ``gluon.Trainer.learning_rate`` would stay at step 0.)
        """
        scheduler = self.trainer.optimizer.lr_scheduler
        return self.trainer.optimizer.lr if scheduler is None else scheduler(updates)

    def validate(self) -> Dict[str, Dict[str, float]]:
        """Validation metrics without and with flip TTA, in the photo frame (the JD rule),
        normalised as the schema says (the landmark box for JD-106)."""
        predict = gluon_predictor(self.net, self.ctx[0])
        in_crops = evaluate(predict, self.val_loader, self.schema.flip_perm)
        return in_crops.in_photo(*self.val_photo, schema=self.schema).metrics()

    def fit(self) -> Dict:
        """Train the remaining epochs; returns the last epoch's log record."""
        t = self.cfg.train
        self.open_run_folder()
        record: Dict = {}
        for epoch in range(self.start_epoch, t.epochs):
            record = {"epoch": epoch + 1, **self.train_one_epoch(epoch), "start": self.start}
            if self.mean_shape_loss is not None:
                record["mean_shape_loss"] = self.mean_shape_loss
            if not self.worker.is_chief:  # worker 0 validates and writes the run folder
                continue
            if (epoch + 1) % t.val_every == 0 or epoch + 1 == t.epochs:
                metrics = self.validate()
                record["val"] = metrics
                score = metrics["flip" if t.select_by == "auc_flip" else "no_flip"]["auc"]
                if self.best is None or score > self.best:
                    self.best = score
                    self._save(self.paths.best, epoch + 1)
                record["mean_shape_nme"] = self.mean_shape_nme
            if (epoch + 1) % t.checkpoint_every == 0 or epoch + 1 == t.epochs:
                self._save(self.paths.last, epoch + 1)
            with open(self.paths.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            self.report(_epoch_line(record))
        return record

    def _save(self, path: str, epochs_done: int) -> None:
        save_checkpoint(path, self.net, self.worker.local_trainer(self.trainer), epochs_done,
                        self.best, config_to_dict(self.cfg))


def _in_threads(function, arguments: List[Tuple], grace_s: float = 60.0) -> List:
    """``[function(*a) for a in arguments]``, each call in a thread of its own; the first
    exception raised in a thread is raised here.

    Once one thread has failed, the others get ``grace_s`` seconds: a device whose peer
    failed waits at the next SyncBatchNorm forever, and must not hold the process with it
    (the threads are daemons).
    """
    results: List = [None] * len(arguments)
    errors: List[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = function(*arguments[i])
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,), daemon=True)
               for i in range(len(arguments))]
    for thread in threads:
        thread.start()
    deadline = None
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.05)
        if errors and deadline is None:
            deadline = time.monotonic() + grace_s
        if deadline is not None and time.monotonic() > deadline:
            break
    if errors:
        raise errors[0]
    return results


def _start_line(start: Dict, bn_devices: int) -> str:
    if start["init_from"]:
        line = f"weights: from {start['init_from']} (fresh optimizer and schedule)"
    elif start["backbone_weights"] == RANDOM:
        line = "weights: random (model.backbone_weights: none)"
    else:
        line = f"weights: backbone from {start['backbone_weights']}, the rest random"
    return line + (f"; BatchNorm synchronised over {bn_devices} devices" if bn_devices > 1
                   else "")


def _epoch_line(record: Dict) -> str:
    line = (f"epoch {record['epoch']}: loss {record['loss']:.4f}  lr {record['lr']:.2e}  "
            f"{record['images_per_s']:.1f} img/s")
    if "val" in record:
        v, f = record["val"]["no_flip"], record["val"]["flip"]
        line += (f"  val NME {v['nme'] * 100:.2f}% AUC {v['auc'] * 100:.2f}"
                 f"  flip NME {f['nme'] * 100:.2f}% AUC {f['auc'] * 100:.2f}"
                 f"  (mean shape NME {record['mean_shape_nme'] * 100:.2f}%)")
    return line
