"""Alignment and augmentation geometry: round trips, pixels and points agree, margins hold."""
import math
import os
import pickle

import cv2
import numpy as np
import pytest

from lotr_gluon.data.align import (
    ARCFACE_112,
    compose,
    estimate_transform,
    face_template,
    invert,
    similarity_transform,
    transform_points,
    warp,
)
from lotr_gluon.data.landmarks import JD106, W300_68
from lotr_gluon.data.synthetic import canonical_face, rotation_matrix
from lotr_gluon.data.transforms import AugmentConfig, FaceCropper
from lotr_gluon.flip import flip_landmarks


def _similarity(angle_deg, scale, tx, ty):
    a = math.radians(angle_deg)
    return np.array([[scale * math.cos(a), -scale * math.sin(a), tx],
                     [scale * math.sin(a), scale * math.cos(a), ty]])


def test_similarity_recovers_a_known_transform():
    m = _similarity(23.0, 1.7, -40.0, 12.5)
    src = np.random.RandomState(0).uniform(0, 300, (5, 2))
    np.testing.assert_allclose(similarity_transform(src, transform_points(src, m)), m,
                               atol=1e-9)


def test_round_trip_to_1e_4_px():
    five = np.array([[120.0, 140], [180, 138], [150, 175], [128, 205], [176, 204]])
    m = estimate_transform(five, 192)
    pts = np.random.RandomState(1).uniform(-50, 500, (106, 2))
    back = transform_points(transform_points(pts, m), invert(m))
    assert np.abs(back - pts).max() < 1e-4
    np.testing.assert_allclose(compose(invert(m), m), [[1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_warp_moves_pixels_where_points_go():
    image = np.zeros((300, 400, 3), np.uint8)
    dot = (251.0, 97.0)
    cv2.circle(image, (int(dot[0]), int(dot[1])), 3, (255, 255, 255), -1)
    m = _similarity(-17.0, 0.8, -60.0, 40.0)
    crop = warp(image, m, 192)[:, :, 0].astype(np.float64)
    ys, xs = np.mgrid[0:192, 0:192]
    centroid = np.array([(crop * xs).sum(), (crop * ys).sum()]) / crop.sum()
    assert np.abs(centroid - transform_points(np.array(dot), m)).max() < 0.3


def test_template_is_arcface_shape():
    t = face_template(192)
    m = similarity_transform(ARCFACE_112, t)
    np.testing.assert_allclose(transform_points(ARCFACE_112, m), t, atol=1e-9)


def _mean_face_68():
    insightface = pytest.importorskip("insightface")
    path = os.path.join(os.path.dirname(insightface.__file__), "data", "objects",
                        "meanshape_68.pkl")
    return np.asarray(pickle.load(open(path, "rb")), dtype=np.float64)  # (68, 3)


@pytest.mark.parametrize("yaw", [-30.0, 0.0, 30.0])
def test_default_template_keeps_a_real_face_inside_the_crop(yaw):
    """insightface's 3D mean face, turned, projected and aligned: jaw and brows stay in."""
    face = _mean_face_68()
    rot = rotation_matrix(yaw, 0.0, 0.0)
    projected = (face - face.mean(axis=0)) @ rot.T
    image_pts = projected[:, :2] * 150 + 300
    crop_pts = transform_points(image_pts, estimate_transform(W300_68.five_point(image_pts)))
    margin = 4.0
    assert crop_pts.min() > margin and crop_pts.max() < 191 - margin


def test_arcface_scale_would_cut_the_jaw():
    """Why the template is not ArcFace's 112 crop scaled to 192."""
    face = _mean_face_68()[:, :2] * 150 + 300
    arcface_192 = ARCFACE_112 * 192 / 112
    m = estimate_transform(W300_68.five_point(face), template=arcface_192)
    assert transform_points(face, m)[:, 1].max() > 192  # the chin falls off the crop


def test_frontal_synthetic_face_inside_crop():
    pts, _ = canonical_face()
    image_pts = pts * 80 + 200
    crop_pts = transform_points(image_pts, estimate_transform(JD106.five_point(image_pts)))
    assert crop_pts.min() > 0 and crop_pts.max() < 191


def _dot_image(points, shape=(300, 300)):
    """A float image with a Gaussian blob at each point, for pixel/point consistency."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.zeros(shape)
    for x, y in points:
        image += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0 ** 2))
    return np.repeat((image / image.max() * 255)[:, :, None], 3, axis=2).astype(np.uint8)


def test_augmented_crop_pixels_follow_the_points():
    pts, _ = canonical_face()
    image_pts = pts * 70 + 150
    cropper = FaceCropper(JD106, 192, augment=AugmentConfig(flip=0.0))
    image = _dot_image(image_pts[[16, 54]])  # chin and nose tip
    crop, out = cropper(image, image_pts, np.random.RandomState(4))
    grey = crop[0]
    ys, xs = np.mgrid[0:192, 0:192]
    for k in (16, 54):
        near = ((xs - out[k, 0]) ** 2 + (ys - out[k, 1]) ** 2) < 36
        w = grey * near
        centroid = np.array([(w * xs).sum(), (w * ys).sum()]) / w.sum()
        assert np.abs(centroid - out[k]).max() < 0.5


def test_mirror_augmentation_equals_flipping_the_unmirrored_crop():
    pts, _ = canonical_face()
    image_pts = pts * 70 + 150 + np.array([5.0, -3.0])
    image = np.random.RandomState(0).randint(0, 255, (300, 300, 3)).astype(np.uint8)
    no_jitter = dict(brightness=0, contrast=0, saturation=0)
    keep = FaceCropper(JD106, 192, augment=AugmentConfig(flip=0.0, **no_jitter))
    mirror = FaceCropper(JD106, 192, augment=AugmentConfig(flip=1.0, **no_jitter))
    # The same random draws except the flip decision (drawn last).
    crop_a, pts_a = keep(image, image_pts, np.random.RandomState(9))
    crop_b, pts_b = mirror(image, image_pts, np.random.RandomState(9))
    np.testing.assert_allclose(pts_b, flip_landmarks(pts_a, 192, JD106.flip_perm), atol=1e-3)
    assert np.abs(crop_b[:, :, ::-1] - crop_a).mean() < 1.0


def test_box_crop_matches_insightface_transform():
    """Our bbox crop is insightface's Landmark crop: same matrix as its face_align.transform."""
    face_align = pytest.importorskip("insightface.utils.face_align")
    from lotr_gluon.data.align import box_transform

    box = np.array([40.0, 52.0, 150.0, 190.0])
    centre = (box[:2] + box[2:]) / 2
    scale = 192 / (max(box[2] - box[0], box[3] - box[1]) * 1.5)
    image = np.zeros((240, 200, 3), np.uint8)
    _, expected = face_align.transform(image, centre, 192, scale, 0)
    np.testing.assert_allclose(box_transform(box, 192), expected, atol=1e-9)


@pytest.mark.parametrize("align", ["five_point", "bbox"])
def test_the_training_crop_is_the_predictors_crop_both_from_the_sidecars_spec(tmp_path, align):
    """One crop rule: the training cropper and the Predictor of the model exported from that
    training cut the same pixels from the same photo and face, and both take the rule from
    the crop specification the sidecar carries."""
    import lotr_gluon
    from lotr_gluon.data.crop_spec import CropSpec
    from lotr_gluon.data.data_config import DataConfig
    from lotr_gluon.data.dataset import open_dataset
    from lotr_gluon.data.detector import Face
    from lotr_gluon.data.synthetic import write_synthetic_dataset
    from lotr_gluon.deploy.export import export_symbol
    from lotr_gluon.deploy.predictor import Predictor
    from lotr_gluon.deploy.sidecar import Sidecar

    write_synthetic_dataset(str(tmp_path / "synth"), 10, seed=4, workers=1, progress=False)
    data = DataConfig(align=align, face_fraction=0.6)
    train = open_dataset(str(tmp_path / "synth" / "train"), data, 64, report=lambda _: None)
    spec = CropSpec.of(data, 64)
    export_symbol(lotr_gluon.get_model("lotr_m", input_size=64), str(tmp_path / "export"),
                  "lotr_m", crop=spec, trained=False)
    assert Sidecar.read(str(tmp_path / "export" / "lotr_m.json")).crop == spec
    predictor = Predictor(str(tmp_path / "export"), detector=lambda image: [])
    assert predictor.crop_spec == spec == train.cropper.crop
    for index, sample in enumerate(train.samples[:3]):
        image = train.load_image(index)
        five = JD106.five_point(sample.landmarks) + 0.7  # a detector's points, off the truth's
        box = np.array([20.0, 30.0, 150.0, 170.0])
        ours, _ = train.cropper(image, sample.landmarks, box=box, five_points=five)
        theirs, matrix = predictor.crop(image, Face(box, 0.9, five))
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(train.cropper.crop_matrix(sample.landmarks, box, five),
                                      matrix)
