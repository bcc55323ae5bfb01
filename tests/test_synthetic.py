"""Synthetic faces: JD semantics, symmetry, determinism."""
import hashlib
import os

import numpy as np
import pytest

from lotr_gluon.data import jd106
from lotr_gluon.data.landmarks import JD106
from lotr_gluon.data.synthetic import (Expression, canonical_face, render_face, sample_rng,
                                       write_synthetic_dataset)


@pytest.mark.parametrize("expr", [Expression(), Expression(mouth_open=1, smile=0.7,
                                                           eyes_closed=1, brow_raise=1)])
def test_canonical_face_is_mirror_symmetric_under_jd_flip_table(expr):
    points, depth = canonical_face(expr)
    for i, j in enumerate(JD106.flip_perm):
        np.testing.assert_allclose(points[j], [-points[i, 0], points[i, 1]], atol=1e-12)
        assert depth[j] == pytest.approx(depth[i])


def test_canonical_face_follows_jd_semantics():
    p, _ = canonical_face()
    chin = p[16]
    assert chin[0] == pytest.approx(0) and chin[1] == p[:, 1].max()  # 16 is the lowest point
    assert p[0, 0] < 0 < p[32, 0]  # contour runs image-left to image-right
    assert p[33:51, 1].max() < p[66:84, 1].min()  # brows above eyes
    assert p[66:84, 1].max() < p[54, 1] < p[84:104, 1].min()  # eyes, nose tip, mouth
    np.testing.assert_allclose(p[74], p[66:74].mean(axis=0), atol=0.02)  # 74 is the eye centre
    assert p[84, 0] < p[90, 0] and p[96, 0] < p[100, 0]  # mouth corners left to right


def test_render_is_deterministic_and_points_land_in_image():
    a = render_face(sample_rng(3, 11), 256)
    b = render_face(sample_rng(3, 11), 256)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.landmarks, b.landmarks)
    assert a.landmarks.shape == (106, 2)
    assert np.all(a.landmarks > -20) and np.all(a.landmarks < 276)


def _digest(root):
    h = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            h.update(name.encode())
            h.update(open(os.path.join(folder, name), "rb").read())
    return h.hexdigest()


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    write_synthetic_dataset(str(tmp_path / "a"), 60, seed=5, workers=1, progress=False)
    write_synthetic_dataset(str(tmp_path / "b"), 60, seed=5, workers=2, progress=False)
    write_synthetic_dataset(str(tmp_path / "c"), 60, seed=6, workers=1, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    samples, problems = jd106.scan(str(tmp_path / "a"), decode=True)
    assert len(samples) == 60 and problems == []
    assert {os.path.basename(os.path.dirname(os.path.dirname(s.image_path)))
            for s in samples} == {"train", "val", "test"}
