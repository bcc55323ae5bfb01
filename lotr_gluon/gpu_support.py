"""Which GPUs the installed MXNet wheel can run on, found out before any kernel is launched.

MXNet's CUDA wheels carry compiled kernels (cubins) for a fixed list of compute capabilities
and no PTX: ``mxnet-cu112`` and ``mxnet-cu117`` 1.9.1 are built with ``MXNET_CUDA_ARCH =
5.0;6.0;7.0;8.0;8.6`` (MXNet's ``config/distribution/linux_cu11x.cmake``). A cubin for
capability X.y runs on X.z with z >= y and never on another major version, so Maxwell to Ada
(5.0-8.9) run and Hopper (9.0: H100, H200) and Blackwell do not; MXNet would fail there with
a kernel-image error inside the first operator. The GPUs are read from the driver
(``libcuda``) directly, so this works with any wheel, even a CPU-only one.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from importlib import metadata
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import UserError

Capability = Tuple[int, int]

# Compute capabilities each wheel carries kernels for (no PTX). Source: MXNet's
# config/distribution/linux_cu112.cmake and linux_cu117.cmake (MXNET_CUDA_ARCH).
WHEEL_ARCHES: Dict[str, Tuple[Capability, ...]] = {
    "mxnet-cu112": ((5, 0), (6, 0), (7, 0), (8, 0), (8, 6)),
    "mxnet-cu117": ((5, 0), (6, 0), (7, 0), (8, 0), (8, 6)),
}
_CU_ATTRIBUTE_MAJOR, _CU_ATTRIBUTE_MINOR = 75, 76  # CUdevice_attribute values


class UnsupportedGPUError(UserError):
    """A requested GPU that the installed MXNet wheel has no kernels for."""


@dataclass(frozen=True)
class GPU:
    index: int
    name: str
    capability: Capability

    @property
    def capability_text(self) -> str:
        return f"{self.capability[0]}.{self.capability[1]}"


def runs_on(capability: Capability, arches: Sequence[Capability]) -> bool:
    """Whether kernels built for ``arches`` (cubins only, no PTX) run on ``capability``:
    some X.y in ``arches`` with the same major X and y <= the GPU's minor."""
    return any(major == capability[0] and minor <= capability[1] for major, minor in arches)


def installed_mxnet() -> Optional[Tuple[str, str]]:
    """``(distribution name, version)`` of the installed MXNet wheel, or None."""
    for dist in metadata.distributions():
        name = (dist.metadata.get("Name") or "").lower()
        if name == "mxnet" or name.startswith("mxnet-"):
            return name, dist.version
    return None


def visible_gpus() -> List[GPU]:
    """The NVIDIA GPUs the driver shows this process (CUDA_VISIBLE_DEVICES applies); empty
    without a driver. Reads names and compute capabilities only: no kernel runs."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return []
    if cuda.cuInit(0) != 0:
        return []
    count = ctypes.c_int(0)
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return []
    gpus = []
    for index in range(count.value):
        device, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
        name = ctypes.create_string_buffer(256)
        if (cuda.cuDeviceGet(ctypes.byref(device), index) != 0
                or cuda.cuDeviceGetName(name, len(name), device) != 0
                or cuda.cuDeviceGetAttribute(ctypes.byref(major), _CU_ATTRIBUTE_MAJOR, device)
                or cuda.cuDeviceGetAttribute(ctypes.byref(minor), _CU_ATTRIBUTE_MINOR, device)):
            continue
        gpus.append(GPU(index, name.value.decode(errors="replace"), (major.value, minor.value)))
    return gpus


def unsupported_message(gpu: GPU, wheel: str, arches: Sequence[Capability]) -> str:
    """One line: the GPU, its capability, what the wheel supports and what would work."""
    kernels = ", ".join(f"{major}.{minor}" for major, minor in sorted(arches))
    majors = sorted({major for major, _ in arches})
    why = ("no MXNet release has kernels for it" if gpu.capability > max(arches)
           else "older than any MXNet 1.9 CUDA wheel supports")
    return (f"GPU {gpu.index} ({gpu.name}) has compute capability {gpu.capability_text}; "
            f"{wheel} has kernels for {kernels} and no PTX, so it runs on {majors[0]}.x-"
            f"{majors[-1]}.x GPUs only ({why}). Use a GPU from Maxwell to Ada (V100, T4, A10, "
            f"A100, L4, L40, RTX 20-40 series) or the CPU (leave out --gpus)")


def check_gpus(ids: Sequence[int], gpus: Optional[List[GPU]] = None,
               wheel: Optional[str] = None) -> None:
    """Raise :class:`UnsupportedGPUError` when a requested GPU cannot run the installed wheel.

    ``gpus`` and ``wheel`` default to what this machine has; a wheel whose architecture list
    is not known here is let through (MXNet itself is then the judge).
    """
    gpus = visible_gpus() if gpus is None else gpus
    if wheel is None:
        found = installed_mxnet()
        wheel = found[0] if found else None
    arches = WHEEL_ARCHES.get(wheel or "")
    if arches is None:
        return
    by_index = {gpu.index: gpu for gpu in gpus}
    for index in ids:
        gpu = by_index.get(index)
        if gpu is not None and not runs_on(gpu.capability, arches):
            raise UnsupportedGPUError(unsupported_message(gpu, wheel, arches))
