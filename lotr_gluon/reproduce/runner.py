"""Run (or resume, or skip) the planned experiments, evaluate each on the test split.

A run folder is finished when ``test/metrics.json`` exists (written last, atomically) or when
training diverged (``diverged.json``, as the paper's 6-layer models did). A finished run is
never retrained; a run with a ``last.ckpt`` is resumed where it stopped.
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable, Dict, List, Optional, Sequence

import mxnet as mx
import numpy as np

from ..engine.trainer import RunPaths
from ..fileio import atomic_write_text
from .plan import PlannedRun

Report = Callable[[str], None]


def test_metrics_path(run: PlannedRun) -> str:
    return os.path.join(run.run_dir, "test", "metrics.json")


def diverged_path(run: PlannedRun) -> str:
    return os.path.join(run.run_dir, "diverged.json")


def speed_path(run: PlannedRun) -> str:
    return os.path.join(run.run_dir, "speed.json")


def status(run: PlannedRun) -> str:
    """``done``, ``diverged``, ``partial`` (has last.ckpt) or ``new``."""
    if os.path.isfile(test_metrics_path(run)):
        return "done"
    if os.path.isfile(diverged_path(run)):
        return "diverged"
    if os.path.isfile(RunPaths(run.run_dir).last):
        return "partial"
    return "new"


def _train(run: PlannedRun, ctx: Sequence[mx.Context], progress: bool, report: Report) -> bool:
    """Train or resume; False when the loss went non-finite (recorded in diverged.json)."""
    from ..engine.checkpoint import read_checkpoint_meta
    from ..engine.trainer import NonFiniteLossError, Trainer

    cfg = run.load()
    last = RunPaths(run.run_dir).last
    resume = os.path.isfile(last)
    if resume and read_checkpoint_meta(last).epoch >= cfg.train.epochs:
        return True
    trainer = Trainer(cfg, run.run_dir, list(ctx), resume=resume, progress=progress,
                      report=report)
    try:
        trainer.fit()
    except NonFiniteLossError as err:
        report(f"{run.name}: {err}")
        atomic_write_text(diverged_path(run), json.dumps({"message": str(err)}) + "\n")
        return False
    return True


def _measure_speed(run: PlannedRun, report: Report) -> None:
    """Batch-1 latency of the trained model, default backend, without and with flip."""
    from ..benchmark.inference import benchmark_backends
    from ..deploy.backends import resolve_backend
    from ..deploy.export import export_checkpoint
    from ..deploy.model_files import find_exported

    export_dir = os.path.join(run.run_dir, "export")
    export_checkpoint(run.run_dir, export_dir)
    model = find_exported(export_dir)
    rows = benchmark_backends(model, [resolve_backend(model)], batch_sizes=(1,),
                              repeat=30, report=report)
    atomic_write_text(speed_path(run), json.dumps([r.to_dict() for r in rows], indent=1))


def execute(runs: Sequence[PlannedRun], ctx: Optional[Sequence[mx.Context]] = None,
            progress: bool = True, report: Report = print) -> Dict[str, str]:
    """Bring every run to ``done`` (or ``diverged``); returns the final status per run."""
    from ..evaluate import run_evaluation

    ctx = list(ctx or [mx.cpu()])
    final = {}
    for i, run in enumerate(runs, 1):
        state = status(run)
        report(f"[{i}/{len(runs)}] {run.name}: {state}")
        if state == "new" or state == "partial":
            start = time.time()
            if _train(run, ctx, progress, report):
                run_evaluation(checkpoint=run.run_dir, split="test",
                               out_dir=os.path.join(run.run_dir, "test"), report=report)
            report(f"[{i}/{len(runs)}] {run.name}: {status(run)} in "
                   f"{(time.time() - start) / 60:.1f} min")
        if (status(run) == "done" and any(c.column == "cpu_ms" for c in run.cells)
                and not os.path.isfile(speed_path(run))):
            _measure_speed(run, report)
        final[run.name] = status(run)
    return final


def training_throughput(run: PlannedRun, ctx: mx.Context, iterations: int = 3,
                        max_batch: int = 16) -> float:
    """Training images/s of ``run``'s model and loss on ``ctx`` (random data, after warm-up),
    at the config's batch size capped at ``max_batch`` to keep a dry run short."""
    from mxnet import autograd, gluon

    from ..engine.builders import build_model, schema_of
    from ..losses import get_loss

    cfg = run.load()
    batch = min(cfg.train.batch_size, max_batch)
    net = build_model(cfg, schema_of(cfg).num_points, [ctx], restoring=True)  # timing only
    loss = get_loss(cfg.loss.name, **cfg.loss.options)
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), cfg.train.optimizer,
                            {"learning_rate": cfg.train.lr})
    size = net.input_size
    images = mx.nd.array(np.random.uniform(0, 255, (batch, 3, size, size)), ctx=ctx)
    targets = mx.nd.array(np.random.uniform(0, size, (batch, net.num_points, 2)), ctx=ctx)

    def step():
        with autograd.record():
            value = loss(net(images), targets)
        value.backward()
        trainer.step(batch)
        value.wait_to_read()

    step()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    return iterations * batch / (time.perf_counter() - start)


def _throughput_job(run: PlannedRun, device_type: str, device_id: int) -> float:
    return training_throughput(run, mx.Context(device_type, device_id))


def throughput_in_child(run: PlannedRun, ctx: mx.Context) -> float:
    """:func:`training_throughput` in a fresh process, so its memory is returned after."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_throughput_job, run, ctx.device_type, ctx.device_id).result()


def dry_run(runs: Sequence[PlannedRun], ctx: mx.Context, measure: bool = False,
            report: Report = print) -> List[Dict]:
    """Print each run and its config at once; with ``measure``, then time one training step
    per model (each in a child process) and print the device hours. Returns the rows."""
    from ..config import resolve_split
    from ..data.formats import scan_dataset

    sizes: Dict[str, int] = {}
    rows, configs = [], []
    for run in runs:
        cfg = run.load()
        train_dir = resolve_split(cfg.data, "train")
        if train_dir not in sizes:
            sizes[train_dir] = len(scan_dataset(train_dir, cfg.data.format)[0])
        configs.append(cfg)
        rows.append({"run": run.name, "status": status(run), "config": run.config_path,
                     "epochs": cfg.train.epochs, "train_images": sizes[train_dir],
                     "images_per_s": None, "hours": None,
                     "cells": [f"{c.table}:{c.row}:{c.column}" for c in run.cells]})
        report(f"{run.name:<20} {status(run):<8} {cfg.model.name:<9} "
               f"{cfg.loss.name:<11} L={cfg.model.options.get('num_layers', 2)} "
               f"{cfg.train.epochs:>3} ep x {sizes[train_dir]} img  {run.config_path}")
    if not measure:
        report(f"total: {len(runs)} runs (--measure times one training step per model on "
               f"{ctx} and adds the hours)")
        return rows
    speeds: Dict[str, float] = {}
    total = 0.0
    for run, cfg, row in zip(runs, configs, rows):
        key = f"{cfg.model.name} {json.dumps(cfg.model.options, sort_keys=True)}"
        if key not in speeds:
            speeds[key] = throughput_in_child(run, ctx)
            report(f"timed {key}: {speeds[key]:.1f} training img/s")
        row["images_per_s"] = round(speeds[key], 1)
        row["hours"] = row["epochs"] * row["train_images"] / speeds[key] / 3600
        total += row["hours"]
        report(f"{run.name:<20} {row['hours']:7.2f} h")
    report(f"total: {len(runs)} runs, about {total:.1f} hours on {ctx} (training only, "
           f"from 3 timed iterations per model; pass --gpus to estimate GPU hours)")
    return rows
