"""Batches of crops split over threads, each running its own copy of the exported MXNet graph.

MXNet's oneDNN operators gain little from a second OpenMP thread, while single-threaded
forwards side by side nearly double the work done (measured in docs/benchmarks.md). So a batch
of two or more crops is cut into one chunk per worker thread, and each worker runs its chunk
with (threads / chunks) OpenMP threads on a graph of its own: MXNet's cached graphs are not
thread-safe, so none is shared. The outputs are the same to the bit. A single crop runs on the
caller's graph with every thread. Workers and their graphs are made on the first batch that
needs them and end with the network.

Only under MXNet's NaiveEngine (``lotr_gluon.runtime.configure_runtime(engine="NaiveEngine")``,
which ``tools/predict.py`` and ``tools/benchmark.py`` call),
where a forward runs in the thread that calls it. Under the threaded engine, forwards from two
threads would queue on the engine's own workers, and waiting for a result from a spawned
thread is not safe there (MXNet's multi-threaded inference notes).
"""
from __future__ import annotations

import ctypes
import os
import queue
import threading
from typing import Callable, List, Optional, Tuple

import mxnet as mx
import numpy as np

from ..runtime import available_cpus, naive_engine

# Each worker holds a copy of the graph and its parameters (LOTR-R+: 96 MB). The cap bounds
# that on many-core machines, where the split has not been measured.
MAX_WORKERS = 4
_LOADING = threading.Lock()  # building graphs in two threads at once is not known to be safe


def thread_budget() -> int:
    """The OpenMP threads this process may use: ``OMP_NUM_THREADS`` (set by
    :func:`lotr_gluon.runtime.configure_runtime` or the user), else the CPUs it may run on."""
    return max(1, int(os.environ.get("OMP_NUM_THREADS") or available_cpus()))


def splitting_supported() -> bool:
    """Whether forwards from several threads run side by side (MXNet's NaiveEngine)."""
    return naive_engine()


def _set_openmp_threads(count: int) -> None:
    """OpenMP threads for the MXNet operators this thread runs (a per-thread setting; MXNet
    1.9 has it in its C API only)."""
    mx.base.check_call(mx.base._LIB.MXSetNumOMPThreads(ctypes.c_int(count)))


class _Worker:
    """A thread with its own graph, running the chunks it is handed one at a time."""

    def __init__(self, load: Callable[[], mx.gluon.Block], ctx: mx.Context, index: int):
        self._jobs: "queue.Queue[Optional[Tuple[np.ndarray, int]]]" = queue.Queue()
        self._results: "queue.Queue[Tuple[bool, object]]" = queue.Queue()
        threading.Thread(target=self._serve, args=(load, ctx), daemon=True,
                         name=f"lotr-graph-{index}").start()

    def _serve(self, load: Callable[[], mx.gluon.Block], ctx: mx.Context) -> None:
        net = None
        while True:
            job = self._jobs.get()
            if job is None:  # closed: the thread ends and its graph goes with it
                return
            crops, threads = job
            try:
                if net is None:
                    with _LOADING:
                        net = load()
                _set_openmp_threads(threads)
                self._results.put((True, net(mx.nd.array(crops, ctx=ctx)).asnumpy()))
            except BaseException as err:  # noqa: BLE001 - handed to the caller, who raises it
                self._results.put((False, err))

    def submit(self, crops: np.ndarray, threads: int) -> None:
        self._jobs.put((crops, threads))

    def result(self) -> Tuple[bool, object]:
        return self._results.get()

    def stop(self) -> None:
        self._jobs.put(None)


class ThreadSplitNetwork:
    """``crops (B, 3, S, S) -> outputs`` on an exported MXNet graph, a batch split over threads.

    Parameters
    ----------
    load : callable
        Returns a fresh copy of the graph (a hybridized block); called once here and once in
        each worker thread.
    ctx : mx.Context
        A CPU context.
    threads : int, optional
        The OpenMP threads to share out; :func:`thread_budget` by default.

    Calls from several threads take turns: the caller's graph and the workers' queues serve
    one batch at a time.
    """

    def __init__(self, load: Callable[[], mx.gluon.Block], ctx: mx.Context,
                 threads: Optional[int] = None):
        self._load = load
        self._ctx = ctx
        self._threads = threads or thread_budget()
        self._turn = threading.Lock()
        with _LOADING:
            self._net = load()
        self._workers: List[_Worker] = []

    @property
    def workers(self) -> int:
        """Worker threads started so far (none until a batch of two or more crops)."""
        return len(self._workers)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        with self._turn:
            return self._split(crops)

    def _split(self, crops: np.ndarray) -> np.ndarray:
        chunks = min(len(crops), self._threads, MAX_WORKERS)
        if chunks < 2:
            return self._net(mx.nd.array(crops, ctx=self._ctx)).asnumpy()
        while len(self._workers) < chunks:
            self._workers.append(_Worker(self._load, self._ctx, len(self._workers)))
        threads = max(1, self._threads // chunks)
        for worker, part in zip(self._workers, np.array_split(crops, chunks)):
            worker.submit(part, threads)
        # Collect every chunk before raising, so no worker's answer is left for the next call.
        results = [worker.result() for worker in self._workers[:chunks]]
        for ok, value in results:
            if not ok:
                raise value
        return np.concatenate([value for _, value in results])

    def close(self) -> None:
        """End the worker threads (also when the network is garbage-collected)."""
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def __del__(self) -> None:
        self.close()
