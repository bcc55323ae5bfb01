"""MXNet's process-wide settings, made explicit: OpenMP threads and the execution engine.

MXNet reads both from the environment once, when it is imported, so they must be set before
anything imports ``mxnet``. Importing ``lotr_gluon`` changes nothing; the command-line tools
call :func:`configure_runtime` first thing, and a Python user who wants the same speed calls
it before importing the model or the Predictor::

    from lotr_gluon.runtime import configure_runtime
    configure_runtime(engine="NaiveEngine")   # inference: what tools/predict.py does
    from lotr_gluon.deploy.predictor import Predictor

A value the user already set in the environment always wins. Why these settings: MXNet's CPU
operators run on one OpenMP thread unless ``OMP_NUM_THREADS`` says otherwise, and for
inference the synchronous ``NaiveEngine`` keeps one forward pass at a time fast and lets the
``mxnet`` backend split a batch over threads (docs/deployment.md, measured in
docs/benchmarks.md).
"""
from __future__ import annotations

import functools
import importlib.util
import math
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Optional

NAIVE_ENGINE = "NaiveEngine"
CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class RuntimeSettings:
    """What MXNet runs with in this process.

    Attributes
    ----------
    threads : int
        OpenMP threads per operator (``OMP_NUM_THREADS``).
    engine : str
        ``MXNET_ENGINE_TYPE``, or ``"default"`` (MXNet's threaded engine) when unset.
    """

    threads: int
    engine: str


def cgroup_cpu_quota(root: str = CGROUP_ROOT) -> Optional[float]:
    """The CPUs a container's cgroup allows (quota / period), or None when unlimited.

    Reads cgroup v2's ``cpu.max`` (``"150000 100000"`` is 1.5 CPUs, ``"max 100000"`` no
    limit), else cgroup v1's ``cpu/cpu.cfs_quota_us`` and ``cpu/cpu.cfs_period_us``.
    """
    try:
        with open(os.path.join(root, "cpu.max"), encoding="ascii") as f:
            quota, _, period = f.read().strip().partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us"), encoding="ascii") as f:
            quota_us = int(f.read().strip())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us"), encoding="ascii") as f:
            period_us = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def available_cpus(cgroup_root: str = CGROUP_ROOT) -> int:
    """The CPUs this process may use: its affinity mask, capped by the cgroup's quota.

    ``os.cpu_count()`` counts the machine's cores, which over-subscribes a container limited
    to fewer (``docker run --cpus 2``) or a process pinned to some (``taskset``). A
    fractional quota rounds down (OpenMP threads that outnumber the CPUs wait on each other),
    never below one.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    return max(1, count)


def current_settings() -> RuntimeSettings:
    """The settings MXNet reads (or read) from this process's environment."""
    threads = os.environ.get("OMP_NUM_THREADS")
    return RuntimeSettings(int(threads) if threads and threads.isdigit() else 1,
                           os.environ.get("MXNET_ENGINE_TYPE") or "default")


def configure_runtime(engine: Optional[str] = None,
                      threads: Optional[int] = None) -> RuntimeSettings:
    """Set MXNet's OpenMP threads and, if given, its engine, unless the user already has.

    Parameters
    ----------
    engine : str, optional
        ``"NaiveEngine"`` for inference (synchronous, one forward at a time); None leaves
        MXNet's default threaded engine, which training uses.
    threads : int, optional
        OpenMP threads; default :func:`available_cpus`.

    Returns
    -------
    RuntimeSettings
        What MXNet runs with. A value already in the environment is kept. Called after
        ``mxnet`` was imported, it changes nothing and warns, since MXNet has read the
        environment by then.
    """
    wanted = {"OMP_NUM_THREADS": str(threads or available_cpus())}
    if engine:
        wanted["MXNET_ENGINE_TYPE"] = engine
    missing = {key: value for key, value in wanted.items() if key not in os.environ}
    if missing and "mxnet" in sys.modules:
        warnings.warn("configure_runtime() was called after mxnet was imported, so MXNet keeps "
                      "its settings; call it before importing lotr_gluon's models, "
                      "Predictor or mxnet (would have set "
                      + ", ".join(f"{k}={v}" for k, v in sorted(missing.items())) + ")",
                      RuntimeWarning, stacklevel=2)
    else:
        os.environ.update(missing)
    return current_settings()


def naive_engine() -> bool:
    """Whether MXNet runs (or will run) the synchronous NaiveEngine."""
    return os.environ.get("MXNET_ENGINE_TYPE") == NAIVE_ENGINE


def openvino_available() -> bool:
    """Whether the OpenVINO runtime is installed."""
    return importlib.util.find_spec("openvino") is not None


@functools.lru_cache(maxsize=1)
def cpu_capabilities() -> tuple:
    """OpenVINO's CPU plugin's ``OPTIMIZATION_CAPABILITIES`` (``FP32``, ``BF16``, ``INT8``,
    ...), or () without OpenVINO."""
    if not openvino_available():
        return ()
    import openvino as ov

    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
