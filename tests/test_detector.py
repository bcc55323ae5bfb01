"""The retinaface detector through insightface's own SCRFD class, with no download: a small
ONNX graph with the outputs insightface expects of a detector with keypoints (scores, box
distances and keypoint offsets for strides 8, 16 and 32, two anchors per cell) encodes one
known face, and the project's detector must return that box and those five points."""
import numpy as np
import pytest

SIDE = 640
STRIDES = (8, 16, 32)
ANCHORS = 2
# The face, encoded at stride 32 in cell (row 7, column 9), anchor 0: its anchor centre is
# (9 * 32, 7 * 32) = (288, 224) in input pixels.
STRIDE, ROW, COL = 32, 7, 9
CENTRE = np.array([COL * STRIDE, ROW * STRIDE], dtype=np.float64)
DISTANCES = np.array([2.0, 2.5, 2.0, 3.0])  # left, top, right, bottom, in strides
OFFSETS = np.array([[-0.8, -0.6], [0.8, -0.6], [0.0, 0.2], [-0.6, 1.2], [0.6, 1.2]])
BOX = np.array([CENTRE[0] - 64, CENTRE[1] - 80, CENTRE[0] + 64, CENTRE[1] + 96])
FIVE = CENTRE + OFFSETS * STRIDE
SCORE = 0.93


def _fake_scrfd(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    outputs, nodes, tensors = [], [], []
    scores, boxes, points = [], [], []
    for stride in STRIDES:
        cells = (SIDE // stride) ** 2 * ANCHORS
        s = np.zeros((cells, 1), np.float32)
        b = np.ones((cells, 4), np.float32)
        k = np.zeros((cells, 10), np.float32)
        if stride == STRIDE:
            index = (ROW * (SIDE // stride) + COL) * ANCHORS  # anchor 0 of that cell
            s[index, 0] = SCORE
            b[index] = DISTANCES
            k[index] = OFFSETS.reshape(-1)
        scores.append(s)
        boxes.append(b)
        points.append(k)
    # insightface reads the outputs as all scores, then all boxes, then all keypoints.
    nodes.append(helper.make_node("ReduceMean", ["input.1"], ["mean"], keepdims=0))
    nodes.append(helper.make_node("Mul", ["mean", "zero"], ["nothing"]))
    tensors.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    for i, value in enumerate(scores + boxes + points):
        name = f"out{i}"
        tensors.append(numpy_helper.from_array(value, f"const{i}"))
        nodes.append(helper.make_node("Add", [f"const{i}", "nothing"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
    graph = helper.make_graph(
        nodes, "fake_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        outputs, tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_retinaface_detector_reads_insightfaces_scrfd_outputs(tmp_path):
    pytest.importorskip("insightface")
    from lotr_gluon.data.detector import get_detector

    folder = tmp_path / "buffalo_fake"
    folder.mkdir()
    _fake_scrfd(folder / "det_fake.onnx")
    detector = get_detector("retinaface", model_path=str(folder))
    faces = detector(np.zeros((SIDE, SIDE, 3), np.uint8))
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].box, BOX, atol=1e-3)
    np.testing.assert_allclose(faces[0].five_points, FIVE, atol=1e-3)
    assert faces[0].score == pytest.approx(SCORE, abs=1e-6)


def test_retinaface_without_a_model_says_where_to_put_one(tmp_path):
    from lotr_gluon.data.detector import get_detector

    with pytest.raises(FileNotFoundError, match="det_10g.onnx"):
        get_detector("retinaface", model_path=str(tmp_path))
