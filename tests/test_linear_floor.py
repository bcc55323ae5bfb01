"""The linear floor (ridge on HOG features): the ridge recovers a linear map it is given, the
penalty is chosen on held-out faces, and the HOG layout has the size worked out by hand."""
import numpy as np
import pytest

from lotr_gluon.engine.linear_floor import RidgeFloor, hog_features


def test_ridge_recovers_a_linear_map_and_picks_the_small_penalty():
    rng = np.random.RandomState(0)
    truth = rng.normal(size=(10, 6))  # 10 features -> 3 points (x, y)
    features = rng.normal(size=(80, 10)) * rng.uniform(0.5, 3, 10) + rng.normal(size=10)
    landmarks = (features @ truth + 50.0).reshape(80, 3, 2)
    floor = RidgeFloor.fit(features, landmarks, penalties=(1e-6, 1e4))
    assert floor.penalty == 1e-6  # noiseless: the held-out faces want no shrinkage
    fresh = rng.normal(size=(5, 10))
    np.testing.assert_allclose(floor.predict(fresh), (fresh @ truth + 50.0).reshape(5, 3, 2),
                               atol=1e-3)
    # A huge penalty shrinks every weight: the prediction is the training mean shape.
    flat = RidgeFloor.fit(features, landmarks, penalties=(1e12,))
    np.testing.assert_allclose(flat.predict(fresh), np.broadcast_to(
        landmarks.mean(axis=0), (5, 3, 2)), atol=1e-3)
    with pytest.raises(ValueError, match="at least 2 faces"):
        RidgeFloor.fit(features[:1], landmarks[:1])


def test_hog_layout_and_a_blank_crop():
    # 64 px, 8 px cells, 16 px blocks every 8 px: 7 x 7 blocks of 2 x 2 cells x 9 bins = 1764.
    crops = np.zeros((2, 3, 64, 64), np.float32)
    crops[1, :, :, 32:] = 255.0  # a vertical edge: horizontal gradients only
    features = hog_features(crops)
    assert features.shape == (2, 1764)
    assert not features[0].any() and features[1].any()
