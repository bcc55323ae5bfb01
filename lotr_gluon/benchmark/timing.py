"""Wall-clock timing with warm-up excluded: mean and standard deviation in milliseconds."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class Timing:
    mean_ms: float
    std_ms: float
    repeat: int
    median_ms: float = float("nan")  # robust to one slow repeat on a shared machine

    def __str__(self) -> str:
        return f"{self.mean_ms:.2f} +- {self.std_ms:.2f}"


def measure(fn: Callable[[], object], warmup: int = 5, repeat: int = 30) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeat`` times, each timed on its own.

    ``fn`` must block until its result exists (call ``.asnumpy()`` / ``wait_to_read()`` on
    MXNet outputs); MXNet's engine is asynchronous and would otherwise time only the launch.
    """
    if repeat < 1:
        raise UserError(f"repeat must be at least 1, got {repeat}")
    for _ in range(warmup):
        fn()
    times = np.empty(repeat)
    for i in range(repeat):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return Timing(float(times.mean() * 1e3), float(times.std() * 1e3), repeat,
                  float(np.median(times) * 1e3))
