"""Dataset and loader: shapes, seeded augmentation independent of workers, mean shape."""
import os
import shutil

import numpy as np
import pytest

from lotr_gluon.data import jd106
from lotr_gluon.data.dataset import LandmarkDataset, make_loader
from lotr_gluon.metrics import mean_shape
from lotr_gluon.data.landmarks import JD106
from lotr_gluon.data.samples import Sample
from lotr_gluon.data.synthetic import write_synthetic_dataset
from lotr_gluon.data.transforms import AugmentConfig, FaceCropper


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synth"))
    write_synthetic_dataset(root, 40, seed=1, workers=1, progress=False)
    found, problems = jd106.scan(root + "/train")
    assert not problems
    return found


def _batches(dataset, workers, epoch):
    loader, sampler = make_loader(dataset, 8, shuffle=True, workers=workers, seed=3)
    sampler.set_epoch(epoch)
    return [(x.asnumpy(), y.asnumpy()) for x, y in loader]


def test_batches_are_identical_with_and_without_workers(samples):
    dataset = LandmarkDataset(samples, FaceCropper(JD106, 96, augment=AugmentConfig()), seed=3)
    serial = _batches(dataset, 0, epoch=2)
    parallel = _batches(dataset, 2, epoch=2)
    assert len(serial) == 4 and serial[0][0].shape == (8, 3, 96, 96)
    assert serial[0][1].shape == (8, 106, 2) and serial[0][0].dtype == np.float32
    for (xa, ya), (xb, yb) in zip(serial, parallel):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    other_epoch = _batches(dataset, 0, epoch=3)
    assert not np.array_equal(serial[0][1], other_epoch[0][1])


def test_eval_items_match_aligned_landmarks(samples):
    dataset = LandmarkDataset(samples, FaceCropper(JD106, 96))
    aligned = dataset.aligned_landmarks()
    np.testing.assert_allclose(dataset[3][1], aligned[3], atol=1e-4)
    assert mean_shape(aligned).shape == (106, 2)


def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="no usable samples"):
        LandmarkDataset([], FaceCropper(JD106, 96))


def test_crop_cache_serves_later_epochs_without_the_photos(samples, tmp_path):
    """After one pass the photos can vanish; items match the uncached path (two resamplings
    instead of one: same landmarks exactly, pixels within a few grey levels on average)."""
    copies = []
    for sample in samples[:6]:
        path = str(tmp_path / os.path.basename(sample.image_path))
        shutil.copyfile(sample.image_path, path)
        copies.append(Sample(path, sample.landmarks, sample.rect))
    cropper = FaceCropper(JD106, 192, augment=AugmentConfig())  # the paper's crop size
    plain = LandmarkDataset(samples[:6], cropper, seed=4)
    cached = LandmarkDataset(copies, cropper, seed=4, cache_dir=str(tmp_path / "cache"))
    first = [cached[(1, i)] for i in range(len(copies))]
    for sample in copies:
        os.remove(sample.image_path)
    for i, (x_first, y_first) in enumerate(first):
        x_again, y_again = cached[(1, i)]
        np.testing.assert_array_equal(x_again, x_first)
        x_plain, y_plain = plain[(1, i)]
        np.testing.assert_array_equal(y_first, y_plain)
        assert np.abs(x_first - x_plain).mean() < 3.0


def test_a_changed_annotation_starts_a_new_crop_cache(samples, tmp_path):
    """Same photos, landmarks re-annotated (moved 10 px): the old canvases are not reused."""
    cropper = FaceCropper(JD106, 96)
    folder = str(tmp_path / "cache")
    before = LandmarkDataset(samples[:2], cropper, cache_dir=folder)
    before[0]
    moved = [Sample(s.image_path, s.landmarks + 10.0, s.rect) for s in samples[:2]]
    after = LandmarkDataset(moved, cropper, cache_dir=folder)
    assert after.cache.folder != before.cache.folder
    x_cached, _ = after[0]
    x_plain, _ = LandmarkDataset(moved, cropper)[0]
    assert np.abs(x_cached - x_plain).mean() < 3.0  # cut around the new points


def test_shards_split_an_epoch_evenly_and_disjointly():
    from lotr_gluon.data.dataset import EpochBatchSampler

    shards = [EpochBatchSampler(23, 4, shuffle=True, seed=1, drop_last=True, shard=r,
                                num_shards=2) for r in range(2)]
    for s in shards:
        s.set_epoch(3)
    seen = [[i for batch in s for _, i in batch] for s in shards]
    assert len(shards[0]) == len(shards[1]) == 2  # 11 samples each -> 2 full batches of 4
    assert not set(seen[0]) & set(seen[1])
    whole = EpochBatchSampler(23, 4, shuffle=True, seed=1)
    whole.set_epoch(3)
    order = [i for batch in whole for _, i in batch]
    assert seen[0] == order[0::2][:8] and seen[1] == order[1::2][:8]  # same permutation


def test_recordio_pack_gives_the_same_items(samples, tmp_path):
    """Packed aligned faces give the same eval landmarks (to float32 precision) and nearly the
    same pixels (one extra resampling and JPEG q95) as the photos; workers read it too."""
    from lotr_gluon.data.formats import read_image_file
    from lotr_gluon.data.recordio import RecordImageReader, pack_split, scan

    cropper = FaceCropper(JD106, 96)
    pack_split(samples[:8], cropper, str(tmp_path / "train"), "jd106", read_image_file,
               progress=False)
    packed, problems = scan(str(tmp_path / "train"), decode=True)
    assert not problems and len(packed) == 8
    plain = LandmarkDataset(samples[:8], cropper)
    from_pack = LandmarkDataset(packed, cropper, read_image=RecordImageReader())
    for i in range(8):
        (xa, ya), (xb, yb) = plain[i], from_pack[i]
        np.testing.assert_allclose(yb, ya, atol=1e-3)
        assert np.abs(xa - xb).mean() < 4.0
    augmented = LandmarkDataset(packed, FaceCropper(JD106, 96, augment=AugmentConfig()), seed=1,
                                read_image=RecordImageReader())
    serial, parallel = _batches(augmented, 0, epoch=1), _batches(augmented, 2, epoch=1)
    for (xa, ya), (xb, yb) in zip(serial, parallel):
        np.testing.assert_array_equal(xa, xb)


def test_missing_pack_names_the_tool(tmp_path):
    from lotr_gluon.data.recordio import scan

    with pytest.raises(FileNotFoundError, match="pack_rec.py"):
        scan(str(tmp_path / "train"))
