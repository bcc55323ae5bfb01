"""Data loader throughput: augmented training crops per second, from photos or the crop cache."""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

from ..data.data_config import DataConfig


@dataclass(frozen=True)
class LoaderSpeed:
    source: str  # "photos", "cache" or "recordio"
    workers: int
    samples: int
    seconds: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds

    def to_dict(self) -> dict:
        return {"loader": self.source, "workers": self.workers, "samples": self.samples,
                "samples_per_s": round(self.samples_per_s, 1)}


def benchmark_loader(root: str, fmt: str = "jd106", workers: int = 2, batch_size: int = 32,
                     input_size: int = 192, batches: int = 20, cache: bool = False,
                     report: Callable[[str], None] = print) -> LoaderSpeed:
    """Augmented ``input_size`` crops per second through the training DataLoader.

    The first epoch is a warm-up (worker start, and with ``cache`` the filling of a
    temporary crop cache); the second is timed. ``fmt`` may be a ``*_rec`` pack.
    """
    from ..data.dataset import make_loader, open_dataset

    with tempfile.TemporaryDirectory(prefix="lotr-cache-") as cache_dir:
        data = DataConfig(format=fmt, cache_dir=cache_dir if cache else None)
        dataset = open_dataset(root, data, input_size, augment=True, report=report)
        size = min(len(dataset), batches * batch_size)
        dataset.samples = dataset.samples[:size]
        loader, sampler = make_loader(dataset, batch_size, shuffle=True, workers=workers)
        for epoch in (0, 1):
            sampler.set_epoch(epoch)
            start, count = time.perf_counter(), 0
            for crops, _ in loader:
                count += crops.shape[0]
            seconds = time.perf_counter() - start
    source = "recordio" if fmt.endswith("_rec") else "cache" if cache else "photos"
    return LoaderSpeed(source, workers, count, seconds)


def pack_for_benchmark(root: str, fmt: str, out_prefix: str, input_size: int = 192,
                       limit: int = 0) -> str:
    """Pack (the first ``limit`` samples of) ``root`` into ``out_prefix.rec``; returns it."""
    from ..data.dataset_schema import dataset_schema
    from ..data.formats import read_image_file, scan_dataset
    from ..data.recordio import pack_split
    from ..data.transforms import FaceCropper

    samples, _ = scan_dataset(root, fmt)
    schema = dataset_schema(DataConfig(format=fmt), root)
    pack_split(samples[:limit or None], FaceCropper(schema, input_size), out_prefix,
               schema.name, read_image_file, progress=False)
    return out_prefix


def synthetic_root(folder: str, num: int, photo_size: int = 256) -> str:
    """Write ``num`` synthetic ``photo_size`` faces under ``folder``; returns the train split."""
    from ..data.synthetic import write_synthetic_dataset

    write_synthetic_dataset(folder, int(num / 0.8) + 1, seed=0, size=photo_size,
                            progress=False)
    return os.path.join(folder, "train")
