"""Landmark schemas: flip tables are involutions that map a symmetric face onto itself."""
import numpy as np
import pytest

from lotr_gluon.data.landmarks import REGISTRY, get_schema, load_schema
from lotr_gluon.flip import flip_landmarks, predict_with_flip

SCHEMAS = ["jd106", "300w68", "wflw98"]


@pytest.mark.parametrize("name", SCHEMAS)
def test_flip_perm_is_involution(name):
    perm = np.array(get_schema(name).flip_perm)
    assert sorted(perm) == list(range(len(perm)))
    np.testing.assert_array_equal(perm[perm], np.arange(len(perm)))


def _symmetric_face(schema, width=100.0):
    """A face whose point i mirrors point perm[i] about x = (width - 1) / 2."""
    rng = np.random.RandomState(0)
    pts = np.zeros((schema.num_points, 2))
    for i, j in enumerate(schema.flip_perm):
        if i < j:
            pts[i] = rng.uniform([5, 5], [45, 95])
            pts[j] = [(width - 1) - pts[i, 0], pts[i, 1]]
        elif i == j:
            pts[i] = [(width - 1) / 2, rng.uniform(5, 95)]
    return pts


@pytest.mark.parametrize("name", SCHEMAS)
def test_flipping_a_symmetric_face_gives_the_same_face(name):
    schema = get_schema(name)
    face = _symmetric_face(schema)
    np.testing.assert_allclose(flip_landmarks(face, 100, schema.flip_perm), face)


def test_flip_twice_is_identity():
    pts = np.random.RandomState(1).uniform(0, 192, (3, 106, 2))
    perm = get_schema("jd106").flip_perm
    np.testing.assert_allclose(flip_landmarks(flip_landmarks(pts, 192, perm), 192, perm), pts)


def test_jd106_semantics():
    schema = get_schema("jd106")
    assert schema.flip_perm[0] == 32 and schema.flip_perm[16] == 16  # chin on the axis
    assert schema.flip_perm[74] == 83 and schema.flip_perm[104] == 105
    assert schema.flip_perm[84] == 90  # mouth corners
    face = np.zeros((106, 2))
    face[74], face[83], face[54], face[84], face[90] = [1, 1], [2, 2], [3, 3], [4, 4], [5, 5]
    np.testing.assert_allclose(schema.five_point(face), [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]])


def _equivariant_model(perm, height, width, seed=0):
    """Predicts point i as the centroid of the image under a weight map M_i, with
    M_perm(i) = mirror(M_i): mirroring the image mirrors and renumbers the prediction."""
    rng = np.random.RandomState(seed)
    maps = np.zeros((len(perm), height, width))
    for i, j in enumerate(perm):
        if i < j:
            maps[i] = rng.uniform(0, 1, (height, width))
            maps[j] = maps[i][:, ::-1]
        elif i == j:
            base = rng.uniform(0, 1, (height, width))
            maps[i] = base + base[:, ::-1]
    ys, xs = np.mgrid[0:height, 0:width]

    def predict(images):  # (B, 3, H, W) -> (B, N, 2)
        intensity = images.mean(axis=1)  # (B, H, W)
        weights = maps[None] * intensity[:, None]  # (B, N, H, W)
        total = weights.sum(axis=(2, 3))
        return np.stack([(weights * xs).sum(axis=(2, 3)) / total,
                         (weights * ys).sum(axis=(2, 3)) / total], axis=-1)

    return predict


def test_flip_tta_equals_plain_for_equivariant_model():
    perm = get_schema("jd106").flip_perm
    predict = _equivariant_model(perm, 12, 16)
    images = np.random.RandomState(2).uniform(1, 255, (3, 3, 12, 16))
    np.testing.assert_allclose(predict_with_flip(predict, images, perm), predict(images),
                               rtol=1e-10)


def test_flip_tta_averages_a_biased_model():
    perm = get_schema("jd106").flip_perm
    predict = _equivariant_model(perm, 12, 16)
    biased = lambda images: predict(images) + np.array([2.0, 0.0])  # always 2 px right
    images = np.random.RandomState(2).uniform(1, 255, (2, 3, 12, 16))
    # A constant x bias flips sign in the mirror, so TTA cancels it.
    np.testing.assert_allclose(predict_with_flip(biased, images, perm), predict(images),
                               rtol=1e-10)


def test_custom_schema_from_yaml(tmp_path):
    path = tmp_path / "five.yaml"
    path.write_text("name: toy5\nnum_points: 5\nflip_pairs: [[0, 1], [3, 4]]\n"
                    "five_points: [0, 1, 2, 3, 4]\nouter_eye_corners: [0, 1]\n"
                    "eye_centres: [[0], [1]]\npolylines: [{points: [3, 2, 4], closed: true}]\n")
    try:
        schema = load_schema(str(path))
        assert get_schema("toy5") is schema
        assert schema.flip_perm == (1, 0, 2, 4, 3)
    finally:
        REGISTRY._schemas.pop("toy5", None)


def test_bad_custom_schemas(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nnum_points: 3\nflip_pairs: [[0, 5]]\nfive_points: [0,1,2,0,1]\n"
                    "outer_eye_corners: [0, 1]\neye_centres: [0, 1]\n")
    with pytest.raises(ValueError, match="outside 0..2"):
        load_schema(str(path), register=False)
    path.write_text("name: bad\nnum_points: 3\nflip_pairs: []\nfive_point: [0]\n")
    with pytest.raises(ValueError, match="unknown keys \\['five_point'\\]"):
        load_schema(str(path), register=False)
    with pytest.raises(ValueError, match="unknown landmark schema 'nope'"):
        get_schema("nope")
