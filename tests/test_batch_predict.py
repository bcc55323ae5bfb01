"""A batch prediction loses nothing: each finished photo is on disk before the next starts, a
stop (SIGTERM, Ctrl-C) ends between photos with a line saying how far it got, and the same
run again does only the rest; damaged photos are reported and skipped."""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from lotr_gluon.batch.annotate import Annotator
from lotr_gluon.batch.landmark_log import LOG_NAME
from lotr_gluon.data.landmarks import get_schema
from lotr_gluon.deploy.predictor import FaceLandmarks
from lotr_gluon.fileio import append_json_lines, read_json_lines
from lotr_gluon.stop_signals import StopSignals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _StubPredictor:
    """One face a photo, its landmarks the photo's mean colour; it checks that every photo
    finished before it is already in the log on disk, and at ``signal_at`` (a call count)
    sends this process a signal."""

    schema = get_schema("jd106")

    def __init__(self, log_path, signal_at=None, signum=signal.SIGTERM):
        self.log_path, self.signal_at, self.signum = log_path, signal_at, signum
        self.calls, self.on_disk = 0, []

    def __call__(self, image):
        self.on_disk.append(len(read_json_lines(self.log_path)))
        self.calls += 1
        if self.calls == self.signal_at:
            os.kill(os.getpid(), self.signum)
        value = float(image.mean())
        return [FaceLandmarks(np.array([1.0, 2.0, 30.0, 40.0]), 0.9,
                              np.full((106, 2), value))]


def _photos(folder, count):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        path = os.path.join(folder, f"p{i:02d}.png")
        cv2.imwrite(path, np.full((24, 32, 3), 10 * i, np.uint8))
        paths.append(path)
    return paths


def test_a_stopped_run_keeps_every_finished_photo_and_the_next_does_the_rest(tmp_path):
    photos = _photos(str(tmp_path / "in"), 6)
    out = str(tmp_path / "out")
    log = os.path.join(out, LOG_NAME)
    stub = _StubPredictor(log, signal_at=3)
    lines = []
    with StopSignals() as stop:
        outcome = Annotator(stub, out, report=lines.append).run(photos, [], stop=stop.requested)
    assert stop.signal == signal.SIGTERM and stop.exit_code == 143
    # The photo being predicted when the signal came is finished; no further one starts.
    assert stub.calls == 3 and outcome.stopped
    assert stub.on_disk == [0, 1, 2], "a finished photo was not on disk before the next one"
    assert (outcome.finished, outcome.total) == (3, 6)
    assert outcome.stop_line() == ("stopped after 3 of 6 photos; run the same command again "
                                   "to continue")
    assert [r["source"] for r in read_json_lines(log)] == photos[:3]
    # The handlers are back as they were: SIGTERM would end the process again.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    rerun, lines = _StubPredictor(log), []
    annotator = Annotator(rerun, out, report=lines.append)
    outcome = annotator.run(photos, [])
    assert rerun.calls == 3 and not outcome.stopped and outcome.earlier == 3
    assert f"3 of 6 photos already in {log}: skipped (--overwrite starts afresh)" in lines
    records = read_json_lines(log)
    assert [r["source"] for r in records] == photos  # each photo once, in order
    final = json.load(open(annotator.save()))
    assert list(final) == photos
    for i, path in enumerate(photos):
        assert final[path][0]["landmarks"][0] == [10.0 * i, 10.0 * i]

    fresh = _StubPredictor(log)
    Annotator(fresh, out, report=lambda _: None, overwrite=True).run(photos[:2], [])
    assert fresh.calls == 2 and [r["source"] for r in read_json_lines(log)] == photos[:2]
    assert not os.path.exists(os.path.join(out, "landmarks.json"))


def test_ctrl_c_stops_between_photos_and_a_second_one_acts_at_once(tmp_path):
    photos = _photos(str(tmp_path / "in"), 4)
    stub = _StubPredictor(os.path.join(str(tmp_path / "out"), LOG_NAME), signal_at=1,
                          signum=signal.SIGINT)
    with StopSignals() as stop:
        outcome = Annotator(stub, str(tmp_path / "out"), report=lambda _: None).run(
            photos, [], stop=stop.requested)
        assert stop.name == "Ctrl-C" and stop.exit_code == 130 and outcome.finished == 1
        with pytest.raises(KeyboardInterrupt):  # the second Ctrl-C is Python's own again
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)


def test_damaged_and_missing_photos_are_reported_and_skipped(tmp_path):
    photos = _photos(str(tmp_path / "in"), 2)
    cut = str(tmp_path / "in" / "cut.jpg")
    data = cv2.imencode(".jpg", np.full((40, 40, 3), 90, np.uint8))[1].tobytes()
    open(cut, "wb").write(data[:len(data) // 2])
    gone = str(tmp_path / "in" / "gone.jpg")  # listed, then deleted before its turn
    lines = []
    stub = _StubPredictor(str(tmp_path / "out" / LOG_NAME))
    outcome = Annotator(stub, str(tmp_path / "out"), report=lines.append).run(
        [photos[0], cut, gone, photos[1]], [])
    assert stub.calls == 2 and outcome.unreadable == 2 and outcome.finished == 2
    assert any(line.startswith(f"skipped {cut}: truncated JPEG") for line in lines), lines
    assert f"skipped {gone}: image file is missing" in lines


def test_a_torn_last_line_is_cut_off_and_that_photo_done_again(tmp_path):
    """A process killed while writing a line leaves it torn: it reads as absent, and the
    next record starts on a line of its own."""
    path = str(tmp_path / "log.jsonl")
    with append_json_lines(path) as f:
        f.write(json.dumps({"source": "a", "faces": []}) + "\n")
        f.write(json.dumps({"source": "b", "faces": []})[:9])
    assert [r["source"] for r in read_json_lines(path)] == ["a"]
    with append_json_lines(path) as f:
        f.write(json.dumps({"source": "b", "faces": []}) + "\n")
    assert open(path).read().count("\n") == 2
    assert [r["source"] for r in read_json_lines(path)] == ["a", "b"]


@pytest.mark.slow  # two runs of the tool: about 15 s
def test_predict_tool_stopped_by_sigterm_continues_where_it_stopped(tmp_path):
    """tools/predict.py on a folder, stopped with SIGTERM partway: every finished photo's
    landmarks are on disk and a line says how far it got; the same command again does only
    the rest, and landmarks.json holds each photo once."""
    import lotr_gluon
    from lotr_gluon.data.synthetic import render_face, sample_rng
    from lotr_gluon.deploy.export import export_symbol

    export = str(tmp_path / "export")
    export_symbol(lotr_gluon.get_model("lotr_m", input_size=64), export, "lotr_m",
                  trained=False)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(16):
        cv2.imwrite(str(folder / f"face{i:02d}.jpg"), render_face(sample_rng(3, i), 160).image)
    out = tmp_path / "out"
    log = out / LOG_NAME
    command = [sys.executable, os.path.join(ROOT, "tools", "predict.py"), str(folder),
               "--model", export, "--out", str(out), "--detector", "mtcnn"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_json_lines(str(log))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    first = read_json_lines(str(log))
    assert 3 <= len(first) < 16, "the run was not stopped partway"
    assert f"SIGTERM: stopped after {len(first)} of 16 photos; run the same command again " \
           f"to continue" in stderr
    for record in first:
        for face in record["faces"]:
            assert len(face["landmarks"]) == 106
    assert len(json.load(open(out / "landmarks.json"))) == len(first)

    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{len(first)} of 16 photos already in {log}: skipped" in again.stdout
    predicted = [line for line in again.stdout.splitlines() if line.endswith("face(s)")]
    assert len(predicted) == 16 - len(first)
    sources = [r["source"] for r in read_json_lines(str(log))]
    assert sorted(sources) == sorted(str(p) for p in folder.iterdir())  # each photo once
    assert read_json_lines(str(log))[:len(first)] == first  # the first run's lines kept
    final = json.load(open(out / "landmarks.json"))
    assert sorted(final) == sorted(sources)
