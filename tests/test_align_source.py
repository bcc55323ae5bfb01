"""Aligning faces from the detector's five points (the paper's protocol) instead of the
annotation's: which points each face gets, what happens to the faces the detector missed, and
that the run folder and the evaluation say so."""
import json
import os

import cv2
import numpy as np
import pytest

from lotr_gluon.data.align import estimate_transform, transform_points
from lotr_gluon.data.detections import align_by_detections, detections_file
from lotr_gluon.data.landmarks import get_schema
from lotr_gluon.data.samples import DatasetError

SHIFT = np.array([6.0, -4.0])  # the detector's five points sit this far from the annotation's
SIZE = 96


def _data(fmt="jd106", **options):
    from lotr_gluon.data.data_config import DataConfig

    return DataConfig(format=fmt, face_fraction=0.65, **options)


def _split(root, n=4):
    """A JD split of ``n`` faces (grey images, the synthetic-free minimum) and its landmarks."""
    from lotr_gluon.data.formats import scan_dataset

    rng = np.random.RandomState(0)
    for folder in ("picture", "landmark"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    base = rng.uniform(60, 140, (106, 2))
    for i in range(n):
        name = f"face{i}.jpg"
        cv2.imwrite(os.path.join(root, "picture", name), np.full((200, 200, 3), 90, np.uint8))
        with open(os.path.join(root, "landmark", name + ".txt"), "w") as f:
            f.write("106\n" + "".join(f"{x} {y}\n" for x, y in base + 5 * i))
    return scan_dataset(root, "jd106")[0]


def _detect(root, samples, missed=(1,), absent=()):
    """SPLIT.jsonl as tools/detect_faces.py writes it: matched faces at the ground truth's five
    points + SHIFT, ``missed`` ones unmatched, ``absent`` ones not detected yet."""
    schema = get_schema("jd106")
    path = detections_file(root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for i, sample in enumerate(samples):
            if i in absent:
                continue
            key = os.path.relpath(sample.image_path, root)
            record = {"image": key, "matched": i not in missed, "reason": "stand-in"}
            if i not in missed:
                five = schema.five_point(sample.landmarks) + SHIFT
                record.update(box=[10, 20, 150, 180], score=0.9, five_points=five.tolist())
            f.write(json.dumps(record) + "\n")
    return path


@pytest.fixture
def detected(tmp_path):
    """A training split whose face 1 the detector missed: ``(folder, samples)``."""
    root = str(tmp_path / "train")
    samples = _split(root)
    _detect(root, samples, missed=(1,))
    return root, samples


def test_detections_file_sits_beside_the_split(tmp_path):
    from lotr_gluon.data.detections import records_root

    assert detections_file("data/jd/train") == os.path.join("data/jd", "detections",
                                                            "train.jsonl")
    assert detections_file("data/jd/val/", "/cache/det") == os.path.join("/cache/det",
                                                                       "val.jsonl")
    # A split that is a file (WFLW's annotation list): keys relative to its folder.
    listing = tmp_path / "list_98pt_test.txt"
    listing.write_text("")
    assert records_root(str(listing)) == str(tmp_path)
    assert records_root(str(tmp_path) + "/") == str(tmp_path)
    assert detections_file(str(listing)) == str(tmp_path / "detections" /
                                                "list_98pt_test.txt.jsonl")


def test_each_face_gets_its_detection_and_misses_follow_the_policy(detected):
    root, samples = detected
    schema = get_schema("jd106")
    aligned, summary = align_by_detections(samples, root)
    np.testing.assert_allclose(aligned[0].five_points, schema.five_point(samples[0].landmarks)
                               + SHIFT)
    assert aligned[0].rect == (10.0, 20.0, 150.0, 180.0)
    assert aligned[1] is samples[1]  # missed: the annotation's alignment, unchanged
    assert (summary.faces, summary.detected, summary.fallback, summary.skipped) == (4, 3, 1, 0)
    assert "3 of 4 faces aligned by the detector, 1 it missed aligned from the ground truth" \
        in str(summary)
    kept, skipped = align_by_detections(samples, root, on_miss="skip")
    assert [s.image_path for s in kept] == [samples[i].image_path for i in (0, 2, 3)]
    assert (skipped.faces, skipped.skipped) == (3, 1)


def test_detector_alignment_moves_the_crop_by_the_detection_offset(detected):
    """Shifting the five points by d in the photo is aligning the photo shifted by -d: every
    landmark lands A d lower in the crop (A the alignment's linear part), worked from the
    ground-truth matrix alone."""
    from lotr_gluon.data.dataset import open_dataset

    root, samples = detected
    schema = get_schema("jd106")
    truth = open_dataset(root, _data(), SIZE, report=lambda _: None)
    lines = []
    found = open_dataset(root, _data(align_source="detector"), SIZE, report=lines.append)
    assert "3 of 4 faces aligned by the detector" in lines[-1]
    for i, sample in enumerate(samples):
        m = estimate_transform(schema.five_point(sample.landmarks), SIZE, 0.65)
        expected = transform_points(sample.landmarks, m) - (0 if i == 1 else m[:, :2] @ SHIFT)
        np.testing.assert_allclose(found.aligned_landmarks()[i], expected, atol=1e-3)
    np.testing.assert_allclose(truth.aligned_landmarks()[1], found.aligned_landmarks()[1])
    # The crop itself comes from the same matrix: its landmarks match aligned_landmarks.
    _, points = found[0]
    np.testing.assert_allclose(points, found.aligned_landmarks()[0], atol=1e-3)
    assert found.alignment.as_dict()["detected"] == 3


def test_missing_or_incomplete_detections_say_what_to_run(tmp_path):
    from lotr_gluon.data.dataset import open_dataset

    root = str(tmp_path / "test")
    samples = _split(root)
    with pytest.raises(FileNotFoundError, match=r"tools/detect_faces.py --data .* --splits "
                                                r"test"):
        open_dataset(root, _data(align_source="detector"), SIZE)
    _detect(root, samples, absent=(2,))
    with pytest.raises(DatasetError, match=r"1 of 4 images have no record \(first "
                                           r"picture.face2.jpg\)"):
        open_dataset(root, _data(align_source="detector"), SIZE)


def test_training_skips_misses_but_scored_splits_keep_every_face(tmp_path):
    from lotr_gluon.config import ConfigError, load_config
    from lotr_gluon.engine.builders import build_dataset

    for split in ("train", "val"):
        root = str(tmp_path / split)
        _detect(root, _split(root), missed=(1, 3))
    overrides = [f"data.root={tmp_path}", "data.align_source=detector", "data.on_miss=skip"]
    cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "experiments",
                                   "demo_synthetic.yaml"), overrides)
    quiet = lambda _: None  # noqa: E731
    assert len(build_dataset(cfg.data, "train", SIZE, augment=True, report=quiet)) == 2
    val = build_dataset(cfg.data, "val", SIZE, report=quiet)
    assert len(val) == 4 and val.alignment.fallback == 2
    with pytest.raises(ConfigError, match="data.align_source must be one of"):
        load_config(os.path.join(os.path.dirname(__file__), "..", "experiments",
                                 "lotr_m.yaml"), ["data.align_source=retinaface"])


def test_a_pack_carries_the_detections(detected, tmp_path):
    """Packed from detections, a RecordIO split aligns its faces as the photos do."""
    from lotr_gluon.data.dataset import open_dataset
    from lotr_gluon.data.formats import read_image_file
    from lotr_gluon.data.recordio import pack_split
    from lotr_gluon.data.transforms import FaceCropper

    root, samples = detected
    schema = get_schema("jd106")
    aligned, _ = align_by_detections(samples, root)
    prefix = str(tmp_path / "pack" / "train")
    pack_split(aligned, FaceCropper(schema, SIZE), prefix, "jd106", read_image_file,
               progress=False)
    quiet = lambda _: None  # noqa: E731
    photos = open_dataset(root, _data(align_source="detector"), SIZE, report=quiet)
    packed = open_dataset(prefix, _data("jd106_rec", align_source="detector"), SIZE,
                          report=quiet)
    assert (packed.alignment.detected, packed.alignment.fallback) == (3, 1)
    np.testing.assert_allclose(packed.aligned_landmarks(), photos.aligned_landmarks(),
                               atol=2e-3)
    # A training split skips the faces the detector missed when told to, packed or not.
    skipping = _data("jd106_rec", align_source="detector", on_miss="skip")
    trained = open_dataset(prefix, skipping, SIZE, training_split=True, report=quiet)
    assert (len(trained), trained.alignment.skipped) == (3, 1)
    assert all(s.five_points is not None for s in trained.samples)
    plain = open_dataset(prefix, _data("jd106_rec"), SIZE, report=quiet)
    truth = open_dataset(root, _data(), SIZE, report=quiet)
    np.testing.assert_allclose(plain.aligned_landmarks(), truth.aligned_landmarks(), atol=2e-3)
