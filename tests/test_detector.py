"""The retinaface detector through insightface's own SCRFD class, with no download: a small
ONNX graph with the outputs insightface expects of a detector with keypoints (scores, box
distances and keypoint offsets for strides 8, 16 and 32, two anchors per cell) encodes one
known face, and the project's detector must return that box and those five points."""
import os

import cv2
import numpy as np
import pytest

import lotr_gluon
from lotr_gluon.errors import UserError

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


def test_one_retinaface_detector_serves_8_threads_at_once(tmp_path):
    """The Predictor shares its detector between the threads that call it: 8 threads at
    once get the face one thread gets alone."""
    pytest.importorskip("insightface")
    import threading

    from lotr_gluon.data.detector import get_detector

    _fake_scrfd(tmp_path / "det_fake.onnx")
    detector = get_detector("retinaface", model_path=str(tmp_path / "det_fake.onnx"))
    image = np.zeros((SIDE, SIDE, 3), np.uint8)
    found, start = [], threading.Barrier(8)

    def work():
        start.wait()
        found.extend(detector(image) for _ in range(2))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 16
    for faces in found:
        assert len(faces) == 1
        np.testing.assert_allclose(faces[0].five_points, FIVE, atol=1e-3)


def test_retinaface_without_a_model_says_where_to_put_one(tmp_path):
    from lotr_gluon.data.detector import get_detector

    with pytest.raises(FileNotFoundError, match="det_10g.onnx"):
        get_detector("retinaface", model_path=str(tmp_path))


def _samples(n=4):
    from lotr_gluon.data.samples import Sample

    rng = np.random.RandomState(0)
    base = rng.uniform(40, 120, (106, 2))
    return [Sample(f"img{i}.jpg", base + 10 * i) for i in range(n)]


def test_detections_are_matched_by_five_points_recorded_and_resumed(tmp_path):
    """img0: the right face among two; img1: no face; img2: only a face elsewhere; img3: the
    detection 0.1 box sizes off (kept). A second run detects nothing again; a torn last
    line is detected anew."""
    from lotr_gluon.data.detections import detect_split, read_detections
    from lotr_gluon.data.detector import Face
    from lotr_gluon.data.landmarks import get_schema

    schema = get_schema("jd106")
    samples = _samples()
    truth = {s.image_path: schema.five_point(s.landmarks) for s in samples}
    calls = []

    def detector(name):
        calls.append(name)
        five = truth[name]
        if name == "img0.jpg":
            return [Face(np.zeros(4), 0.99, five + 300), Face(np.ones(4), 0.8, five)]
        if name == "img1.jpg":
            return []
        if name == "img2.jpg":
            return [Face(np.zeros(4), 0.9, five + 80)]
        lo, hi = samples[3].landmarks.min(0), samples[3].landmarks.max(0)
        return [Face(np.ones(4) * 3, 0.7, five + [0.1 * np.sqrt(np.prod(hi - lo)), 0.0])]

    path = str(tmp_path / "det" / "train.jsonl")
    records = detect_split(samples, lambda p: p, detector, schema, path, progress=False)
    assert [records[s.image_path]["matched"] for s in samples] == [True, False, False, True]
    assert records["img0.jpg"]["score"] == 0.8  # the face at the annotation, not the stronger
    assert records["img1.jpg"]["reason"] == "no face detected"
    assert "1 face(s) detected, the nearest" in records["img2.jpg"]["reason"]
    # img3's detection sits 0.1 box sizes to the right of the annotation, inside the match
    # distance: matched, and recorded where the detector put it.
    lo, hi = samples[3].landmarks.min(0), samples[3].landmarks.max(0)
    np.testing.assert_allclose(records["img3.jpg"]["five_points"],
                               truth["img3.jpg"] + [0.1 * np.sqrt(np.prod(hi - lo)), 0.0],
                               atol=1e-3)
    calls.clear()
    assert detect_split(samples, lambda p: p, detector, schema, path, progress=False) == records
    assert calls == []
    lines = open(path).read().splitlines()
    with open(path, "w") as f:
        f.write("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # torn while writing img3
    again = detect_split(samples, lambda p: p, detector, schema, path, progress=False)
    assert calls == ["img3.jpg"] and again == records
    assert read_detections(path) == records
    # a file one detector wrote is not resumed by another: the two would mix
    named = str(tmp_path / "named" / "train.jsonl")
    detect_split(samples[:2], lambda p: p, detector, schema, named, progress=False, name="one")
    detect_split(samples, lambda p: p, detector, schema, named, progress=False, name="one")
    with pytest.raises(UserError, match=r"written by another detector \(one, not two\)"):
        detect_split(samples, lambda p: p, detector, schema, named, progress=False, name="two")


def test_detect_faces_tool_on_a_synthetic_set(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from lotr_gluon.data.synthetic import write_synthetic_dataset

    root = str(tmp_path / "synth")
    write_synthetic_dataset(root, 10, seed=4, workers=1, progress=False)  # 8 / 1 / 1
    tool = [sys.executable, "tools/detect_faces.py", "--data", root, "--no-progress"]
    done = subprocess.run(tool, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "train: 8 images" in done.stdout and "test: 1 images" in done.stdout
    assert "detector: " in done.stdout
    records = [json.loads(line) for line in open(f"{root}/detections/train.jsonl")]
    assert records[0]["image"] == os.path.join("picture", "synth_000000.jpg")
    assert len(records) == 8 and sum(r["matched"] for r in records) >= 6  # the default finds most
    missing = subprocess.run(tool[:3] + ["/no/such/folder"], capture_output=True, text=True)
    assert missing.returncode == 1 and "none of ['train', 'val', 'test'] is there" in missing.stderr


def test_retinaface_finds_an_insightface_pack_already_on_disk(tmp_path, monkeypatch):
    """No model given: the pack insightface keeps in ~/.insightface/models is used; with none
    there, buffalo_l is fetched as insightface fetches it, and with the download refused
    (tests/conftest.py) the error names the pack, the file and the folder."""
    pytest.importorskip("insightface")
    from lotr_gluon.data.detector import DetectorModelError, get_detector

    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / ".insightface" / "models" / "buffalo_l"
    with pytest.raises(DetectorModelError, match=rf"buffalo_l pack .*det_10g\.onnx.* not in "
                                                 rf"{folder} and could not be downloaded"):
        get_detector("retinaface")
    assert get_detector("default").description.startswith("retinaface-mnet")  # never fetches
    pack = tmp_path / ".insightface" / "models" / "buffalo_fake"
    pack.mkdir(parents=True)
    _fake_scrfd(pack / "det_fake.onnx")
    faces = get_detector("retinaface")(np.zeros((SIDE, SIDE, 3), np.uint8))
    np.testing.assert_allclose(faces[0].five_points, FIVE, atol=1e-3)


def test_the_default_detector_is_retinaface_when_its_model_is_on_disk(tmp_path, monkeypatch):
    """The paper detects with RetinaFace: ``default`` is insightface's when it has a pack on
    disk, the offline RetinaFace-MobileNet0.25 otherwise, and MTCNN without that one."""
    pytest.importorskip("insightface")
    pytest.importorskip("retinaface")
    import importlib.util

    from lotr_gluon.data import detector as detectors
    from lotr_gluon.data.detector import get_detector, resolve_detector

    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_detector("default") == ("retinaface-mnet", None)
    assert get_detector("default").description.startswith("retinaface-mnet")
    find_spec = importlib.util.find_spec
    with monkeypatch.context() as without:
        without.setattr(detectors.importlib.util, "find_spec",
                        lambda name, *a: None if name == "retinaface" else find_spec(name, *a))
        assert resolve_detector("default") == ("mtcnn", None)
    pack = tmp_path / ".insightface" / "models" / "buffalo_fake"
    pack.mkdir(parents=True)
    _fake_scrfd(pack / "det_fake.onnx")
    assert resolve_detector("default") == ("retinaface", str(pack / "det_fake.onnx"))
    detector = get_detector("default")
    assert detector.description == f"retinaface ({pack / 'det_fake.onnx'})"
    np.testing.assert_allclose(detector(np.zeros((SIDE, SIDE, 3), np.uint8))[0].box, BOX,
                               atol=1e-3)
    assert resolve_detector("mtcnn") == ("mtcnn", None)
    with pytest.raises(ValueError, match="unknown detector 'yolo'"):
        resolve_detector("yolo")


class _ShiftedTruth:
    """A picklable stand-in detector: one face at the image's encoded five points."""

    def __call__(self, five):
        from lotr_gluon.data.detector import Face

        return [Face(np.zeros(4), 0.9, five + 1.0)]


def test_worker_processes_write_the_same_records(tmp_path):
    from lotr_gluon.data.detections import detect_split
    from lotr_gluon.data.landmarks import get_schema

    schema = get_schema("jd106")
    samples = _samples(7)
    truth = {s.image_path: schema.five_point(s.landmarks) for s in samples}
    read = truth.__getitem__  # the "image" is the face's five points
    serial = detect_split(samples, read, _ShiftedTruth(), schema, str(tmp_path / "a.jsonl"),
                          progress=False)
    parallel = detect_split(samples, read, _ShiftedTruth(), schema, str(tmp_path / "b.jsonl"),
                            progress=False, workers=2, chunk_size=2)
    assert parallel == serial and len(serial) == 7 and all(r["matched"] for r in serial.values())
    # A photo that does not decode is listed with the misses; the others are still detected.
    from lotr_gluon.data.samples import DatasetError

    def broken(name):
        if name == "img3.jpg":
            raise DatasetError(name, "unreadable image")
        return truth[name]

    records = detect_split(samples, broken, _ShiftedTruth(), schema,
                           str(tmp_path / "c.jsonl"), progress=False)
    assert records["img3.jpg"] == {"image": "img3.jpg", "matched": False,
                                   "reason": "unreadable image"}
    assert sum(r["matched"] for r in records.values()) == 6
    assert sorted(open(tmp_path / "b.jsonl").read().splitlines()) == \
        sorted(open(tmp_path / "a.jsonl").read().splitlines())


_REFUSED_FETCH = """
import runpy, sys
from insightface.utils import storage
storage.MODEL_ZOO_RELEASE_DOWNLOAD_URL = "http://127.0.0.1:9/"  # the download is refused
sys.argv = ["tools/predict.py"] + sys.argv[1:]
runpy.run_path("tools/predict.py", run_name="__main__")
"""


def test_retinaface_offline_is_one_line_naming_the_pack_and_folder(tmp_path):
    """tools/predict.py --detector retinaface with no pack on disk and the download refused:
    exit 1, one line that names insightface's pack, its detector file and the folder."""
    pytest.importorskip("insightface")
    import subprocess
    import sys

    from lotr_gluon.deploy.export import export_symbol

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    export_symbol(lotr_gluon.get_model("lotr_m", input_size=64), str(tmp_path / "m"), "lotr_m",
                  trained=False)
    cv2.imwrite(str(tmp_path / "face.jpg"), np.zeros((64, 64, 3), np.uint8))
    done = subprocess.run([sys.executable, "-c", _REFUSED_FETCH, str(tmp_path / "face.jpg"),
                           "--model", str(tmp_path / "m"), "--detector", "retinaface",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          cwd=root, timeout=300, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    folder = tmp_path / ".insightface" / "models" / "buffalo_l"
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert "buffalo_l" in errors[0] and "det_10g.onnx" in errors[0] and str(folder) in errors[0]


def test_lazy_detectors_unpickled_in_one_process_share_one_network():
    """tools/detect_faces.py hands each worker the pickled detector with every chunk of
    images: building (compiling) the network once per process, not once per chunk, is what
    keeps a dataset's pass at the detector's own speed."""
    import pickle

    pytest.importorskip("retinaface")
    from lotr_gluon.data.detector import LazyDetector

    lazy = LazyDetector("retinaface-mnet")
    first, second = (pickle.loads(pickle.dumps(lazy)) for _ in range(2))
    image = np.zeros((64, 64, 3), np.uint8)
    assert first(image) == second(image) == []
    assert first._detector is second._detector
    assert pickle.loads(pickle.dumps(first))._detector is None  # pickles without its network


def test_the_help_names_every_detector_that_get_detector_builds():
    """The tools' --detector help is read without loading the detectors: its names must be
    the registry's, plus ``default``."""
    from lotr_gluon.data.detector import DETECTORS
    from lotr_gluon.data.detector_names import DETECTOR_NAMES

    assert DETECTOR_NAMES[0] == "default" and sorted(DETECTOR_NAMES[1:]) == sorted(DETECTORS)
