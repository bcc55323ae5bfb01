"""Gluon dataset of aligned face crops, and a loader whose augmentation is seeded per sample.

Items are ``(3xSxS float32 RGB 0..255 crop, (N, 2) float32 landmarks in crop pixels)``. The
random draw of sample ``i`` in epoch ``e`` comes from ``RandomState(seed, e, i)``, so a run
is reproducible whatever the number of loader workers.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from mxnet import gluon

from ..errors import UserError
from .crop_cache import CropCache
from .crop_spec import CropSpec
from .data_config import DataConfig, check_choices
from .detections import AlignmentSummary, align_by_detections
from .dataset_schema import dataset_schema
from .formats import FORMATS, read_image_file, scan_dataset
from .image_file import find_damaged
from .landmarks import LandmarkSchema
from .samples import DatasetError, Problem, Sample, summarize_problems
from .transforms import FaceCropper

Key = Union[int, Tuple[int, int]]


def item_rng(seed: int, epoch: int, index: int) -> np.random.RandomState:
    """The random generator for sample ``index`` in ``epoch``."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0]
    return np.random.RandomState(state)


class LandmarkDataset(gluon.data.Dataset):
    """Annotated photos -> aligned (and, for training, augmented) crops.

    Parameters
    ----------
    samples : list of Sample
        From a reader's ``scan``.
    cropper : FaceCropper
        Alignment and augmentation.
    seed : int
        Seeds the augmentation.
    cache_dir : str, optional
        Keep aligned canvases there (:class:`CropCache`) so later epochs skip the photos.
    read_image : callable, optional
        ``image_path -> BGR uint8`` (default: decode the file; RecordIO packs bring theirs).
    alignment : AlignmentSummary, optional
        How the samples' faces are aligned (default: all from their ground truth).
    damaged : sequence of Problem, optional
        The damaged photos left out of ``samples`` (:func:`open_dataset`), for the record.
    """

    def __init__(self, samples: Sequence[Sample], cropper: FaceCropper, seed: int = 0,
                 cache_dir: Optional[str] = None,
                 read_image: Optional[Callable[[str], np.ndarray]] = None,
                 alignment: Optional[AlignmentSummary] = None,
                 damaged: Sequence[Problem] = ()):
        if not samples:
            raise DatasetError("dataset", "no usable samples")
        self.samples = list(samples)
        self.alignment = alignment or AlignmentSummary.ground_truth(len(samples))
        self.damaged = list(damaged)
        self.cropper = cropper
        self.seed = seed
        self.cache = CropCache(cache_dir, self.samples, cropper) if cache_dir else None
        self.read_image = read_image or read_image_file

    def __len__(self) -> int:
        return len(self.samples)

    def damaged_record(self) -> dict:
        """``{"count": n, "files": [{"path", "problem"}, ...]}``: the damaged photos left
        out, as the run folder's ``damaged.json`` and an evaluation's ``metrics.json`` keep
        them."""
        return {"count": len(self.damaged),
                "files": [{"path": p.path, "problem": p.message} for p in self.damaged]}

    def load_image(self, index: int) -> np.ndarray:
        return self.read_image(self.samples[index].image_path)

    def __getitem__(self, key: Key) -> Tuple[np.ndarray, np.ndarray]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = item_rng(self.seed, epoch, index) if self.cropper.augment else None
        sample = self.samples[index]
        if self.cache is not None:
            canvas, source = self.cache.load(index, sample, self.load_image)
            return self.cropper(canvas, sample.landmarks, rng, sample.rect, source,
                                sample.five_points)
        return self.cropper(self.load_image(index), sample.landmarks, rng, sample.rect,
                            five_points=sample.five_points)

    def crop_matrices(self) -> np.ndarray:
        """``(M, 2, 3)``: each sample's photo-to-crop map before augmentation."""
        return np.stack([self.cropper.crop_matrix(s.landmarks, s.rect, s.five_points)
                         for s in self.samples])

    def aligned_landmarks(self) -> np.ndarray:
        """``(M, N, 2)`` landmarks of every sample in its un-augmented crop (no image I/O)."""
        from .align import transform_points

        return np.stack([transform_points(s.landmarks, m)
                         for s, m in zip(self.samples, self.crop_matrices())]).astype(np.float32)

    def photo_frame(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(matrices (M, 2, 3), landmarks (M, N, 2))``: each un-augmented crop's photo-to-crop
        map and the photo's own landmarks, to score predictions in the photo (the JD rule)."""
        landmarks = np.stack([s.landmarks for s in self.samples]).astype(np.float64)
        return self.crop_matrices(), landmarks


class EpochBatchSampler(gluon.data.Sampler):
    """Batches of ``(epoch, index)`` keys; call :meth:`set_epoch` before each epoch.

    Shuffling is seeded by ``(seed, epoch)``; ``drop_last`` discards a short final batch.
    With ``num_shards > 1`` (distributed workers) every shard draws the same permutation and
    keeps every ``num_shards``-th index from ``shard`` on, cut to the same length for all, so
    the workers run the same number of iterations (a synchronous kvstore needs that).
    """

    def __init__(self, length: int, batch_size: int, shuffle: bool, seed: int = 0,
                 drop_last: bool = False, shard: int = 0, num_shards: int = 1):
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= shard < num_shards:
            raise ValueError(f"shard {shard} is not in 0..{num_shards - 1}")
        if length < num_shards:
            raise UserError(f"{length} samples cannot be split over {num_shards} workers")
        self.total, self.shard, self.num_shards = length, shard, num_shards
        self.length, self.batch_size = length // num_shards, batch_size
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        order = np.arange(self.total)
        if self.shuffle:
            order = np.random.RandomState([self.seed, self.epoch]).permutation(self.total)
        order = order[self.shard::self.num_shards][:self.length]
        for start in range(0, self.length, self.batch_size):
            batch = order[start:start + self.batch_size]
            if self.drop_last and len(batch) < self.batch_size:
                break
            yield [(self.epoch, int(i)) for i in batch]

    def __len__(self) -> int:
        full, rest = divmod(self.length, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)


def make_loader(dataset: LandmarkDataset, batch_size: int, shuffle: bool, workers: int = 0,
                seed: int = 0, drop_last: bool = False, shard: int = 0, num_shards: int = 1
                ) -> Tuple[gluon.data.DataLoader, EpochBatchSampler]:
    """A DataLoader over ``dataset`` (or its ``shard`` of ``num_shards``) and its sampler."""
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle, seed,
                                drop_last and len(dataset) // num_shards >= batch_size,
                                shard, num_shards)
    loader = gluon.data.DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                                   thread_pool=False)
    return loader, sampler


def open_dataset(path: str, data: DataConfig, crop: Union[int, CropSpec], *,
                 augment: bool = False,
                 training_split: bool = False, seed: int = 0,
                 report: Callable[[str], None] = print) -> LandmarkDataset:
    """The split at ``path``, read and cropped as ``data`` says; unusable samples are skipped
    and summarised through ``report``.

    Parameters
    ----------
    path : str
        The split's folder (or RecordIO pack prefix), in ``data.format``.
    data : DataConfig
        Format, crop (``face_fraction``, ``align``), alignment source and detections folder,
        crop cache, augmentation.
    crop : int or CropSpec
        The crop side in pixels, cut by ``data``'s rule (:meth:`CropSpec.of`); or the crop
        itself (an export's, from its sidecar).
    augment : bool
        Augment the crops by ``data.augment`` (training).
    training_split : bool
        Faces the detector missed follow ``data.on_miss``. Otherwise every face is kept
        (aligned from its ground truth when missed), so that scores compare across alignment
        sources.
    seed : int
        Seeds the augmentation.

    Damaged photos (:mod:`.image_file`: a truncated JPEG, a PNG failing its CRC) are found
    here, before anything reads a pixel, in every split, training or not: ``data.on_damaged``
    ``skip`` leaves them out and names them through ``report`` (and in the dataset's
    ``damaged``), ``error`` raises a :class:`DatasetError` naming the first. Evaluation
    splits follow the same policy as training ones, as no score of a grey-filled face means
    anything. RecordIO packs are not swept: their faces were read through the same check
    when they were packed, and their reader checks each record again.

    ``align_source="detector"`` aligns each face from the detector's five points (and box),
    read from ``detections/SPLIT.jsonl`` beside the split (or under ``data.detections``)
    (:func:`.detections.align_by_detections`). RecordIO packs carry their detections inside.
    """
    check_choices(data)
    schema = dataset_schema(data, path)
    check_alignable(schema, data.align)
    if augment:
        check_mirrorable(schema, data.augment.flip)
    samples, problems = scan_dataset(path, data.format, schema=schema,
                                     five_point_alignment=data.align == "five_point")
    if problems:
        report(f"{path}: " + summarize_problems(problems, len(samples)))
    damaged: List[Problem] = []
    if not FORMATS[data.format].packed:
        samples, damaged = _leave_out_damaged(samples, path, data.on_damaged, report)
    if not samples:
        raise DatasetError(path, f"no usable samples in the {data.format} layout")
    on_miss = data.on_miss if training_split else "ground_truth"
    if FORMATS[data.format].packed:
        samples, alignment = _packed_alignment(samples, path, data.align_source, on_miss)
    elif data.align_source == "detector":
        samples, alignment = align_by_detections(samples, path, data.detections, on_miss)
    else:
        alignment = AlignmentSummary.ground_truth(len(samples))
    report(f"{path}: {alignment}")
    cropper = FaceCropper(schema, crop if isinstance(crop, CropSpec) else CropSpec.of(data, crop),
                          data.augment if augment else None)
    return LandmarkDataset(samples, cropper, seed=seed, cache_dir=data.cache_dir,
                           read_image=FORMATS[data.format].image_reader(), alignment=alignment,
                           damaged=damaged)


def check_alignable(schema: LandmarkSchema, align: str) -> None:
    """A markup without five alignment points can only be aligned by its box."""
    if align == "five_point" and not schema.has_five_points:
        raise UserError(f"landmark schema {schema.name} has no five_points (eyes, nose tip, "
                        f"mouth corners): set data.align=bbox, or give a schema file "
                        f"(data.schema) that names them")


def check_mirrorable(schema: LandmarkSchema, flip: float) -> None:
    """Mirroring a face renumbers its points by the schema's pairs; without any, a mirrored
    crop would keep its left points' labels on the right."""
    if flip > 0 and schema.num_points > 1 and list(schema.flip_perm) == list(
            range(schema.num_points)):
        raise UserError(f"landmark schema {schema.name} has no mirror pairs, and "
                        f"data.augment.flip is {flip}: give flip_pairs (or mirror) in its "
                        f"schema file, or set data.augment.flip=0")


def _leave_out_damaged(samples: List[Sample], path: str, policy: str,
                       report: Callable[[str], None], limit: int = 20
                       ) -> Tuple[List[Sample], List[Problem]]:
    """The samples whose photo is whole, and a problem per damaged photo (``policy`` skip),
    or a DatasetError naming the first damaged photo (``policy`` error)."""
    damaged = find_damaged(dict.fromkeys(s.image_path for s in samples))
    if not damaged:
        return samples, []
    if policy == "error":
        first = damaged[0]
        raise DatasetError(first.path, f"{first.message}; {len(damaged)} damaged photo(s) in "
                                       f"{path} (data.on_damaged: error): replace them, or set "
                                       f"data.on_damaged=skip to leave them out")
    lines = [f"{path}: {len(damaged)} damaged photo(s) left out (data.on_damaged: skip)"]
    lines += [f"  {p}" for p in damaged[:limit]]
    if len(damaged) > limit:
        lines.append(f"  ... and {len(damaged) - limit} more (tools/check_dataset.py lists all)")
    report("\n".join(lines))
    bad = {p.path for p in damaged}
    return [s for s in samples if s.image_path not in bad], damaged


def _packed_alignment(samples: List[Sample], path: str, align_source: str, on_miss: str
                      ) -> Tuple[List[Sample], AlignmentSummary]:
    """A pack stores each face's detected five points when it was packed from detections;
    a face without them was missed by the detector."""
    if align_source == "ground_truth":
        plain = [replace(s, five_points=None) for s in samples]
        return plain, AlignmentSummary.ground_truth(len(samples))
    detected = sum(s.five_points is not None for s in samples)
    if not detected:
        raise DatasetError(path, "this pack holds no detections; pack it with "
                                 "tools/pack_rec.py --align-source detector, or set "
                                 "data.align_source=ground_truth")
    kept = [s for s in samples if s.five_points is not None or on_miss != "skip"]
    return kept, AlignmentSummary("detector", len(kept), detected, len(kept) - detected,
                                  len(samples) - len(kept), path)
