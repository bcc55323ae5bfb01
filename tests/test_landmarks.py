"""Landmark schemas: flip tables against the markups, flipping and flip TTA."""
import numpy as np
import pytest

from lotr_gluon.data.landmarks import REGISTRY, get_schema, load_schema
from lotr_gluon.flip import flip_landmarks, predict_with_flip

SCHEMAS = ["jd106", "300w68", "wflw98"]


def _mirror(*groups):
    """A flip table from (left, right) runs that mirror each other; other points stay."""
    return [(a, b) for left, right in groups for a, b in zip(left, right)]


# Written out from each markup's description of its points (not from the package):
# JD-106 / LaPa, the table in PAPER_FACTS.md: contour 0-32 around the chin 16; eyebrows 33-37 /
# 42-46 (upper) and 38-41 / 47-50 (lower); nose bridge 51-54 on the axis; lower nose 55-65
# around 60; eyes 66-73 / 75-82 with centres 74 / 83; lips 84-95 outer (corners 84 / 90),
# 96-103 inner; pupils 104 / 105.
JD106_FLIP = ([32 - i for i in range(33)]
              + [46, 45, 44, 43, 42, 50, 49, 48, 47, 37, 36, 35, 34, 33, 41, 40, 39, 38,
                 51, 52, 53, 54, 65, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55,
                 79, 78, 77, 76, 75, 82, 81, 80, 83, 70, 69, 68, 67, 66, 73, 72, 71, 74,
                 90, 89, 88, 87, 86, 85, 84, 95, 94, 93, 92, 91, 100, 99, 98, 97, 96,
                 103, 102, 101, 105, 104])
# iBUG 300-W, 68 points: jaw 0-16, brows 17-21 / 22-26, nose bridge 27-30, nostrils 31-35,
# eyes 36-41 / 42-47 (clockwise from the outer corner), outer lips 48-59, inner lips 60-67.
W300_PAIRS = _mirror((range(0, 8), range(16, 8, -1)), (range(17, 22), range(26, 21, -1)),
                     ((31, 32), (35, 34)), ((36, 37, 38, 39, 40, 41), (45, 44, 43, 42, 47, 46)),
                     ((48, 49, 50, 55, 56), (54, 53, 52, 59, 58)), ((60, 61, 65), (64, 63, 67)))
# WFLW, 98 points: contour 0-32, brows 33-41 / 42-50, nose 51-59, eyes 60-67 / 68-75, outer
# lips 76-87, inner lips 88-95, pupils 96 / 97.
WFLW_PAIRS = _mirror((range(0, 16), range(32, 16, -1)),
                     ((33, 34, 35, 36, 37, 38, 39, 40, 41), (46, 45, 44, 43, 42, 50, 49, 48, 47)),
                     ((55, 56), (59, 58)), (range(60, 65), range(72, 67, -1)),
                     ((65, 66, 67), (75, 74, 73)), ((76, 77, 78, 83, 84), (82, 81, 80, 87, 86)),
                     ((88, 89, 93), (92, 91, 95)), ((96,), (97,)))


def _table(pairs, n):
    perm = list(range(n))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


@pytest.mark.parametrize("name, expected", [("jd106", JD106_FLIP),
                                            ("300w68", _table(W300_PAIRS, 68)),
                                            ("wflw98", _table(WFLW_PAIRS, 98))])
def test_flip_tables_match_the_markups(name, expected):
    assert list(get_schema(name).flip_perm) == expected


def test_flipping_a_hand_made_face_mirrors_it_and_renumbers_it():
    # Three points of a 5-point toy markup: 0 and 1 swap under the flip, 2 stays.
    face = np.array([[[10.0, 20.0], [70.0, 22.0], [40.0, 50.0], [12.0, 80.0], [66.0, 81.0]]])
    perm = (1, 0, 2, 4, 3)
    # Mirrored about x = (100 - 1) / 2: x -> 99 - x; then point i takes the name perm[i].
    expected = np.array([[[29.0, 22.0], [89.0, 20.0], [59.0, 50.0], [33.0, 81.0], [87.0, 80.0]]])
    np.testing.assert_allclose(flip_landmarks(face, 100, perm), expected)


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
