"""Dataset readers: every kind of bad input is one clear problem, never a traceback."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from lotr_gluon.data import jd106, w300, wflw
from lotr_gluon.data.samples import DatasetError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_jd(root, name, points=None, count=None, image=True, text=None):
    os.makedirs(os.path.join(root, "picture"), exist_ok=True)
    os.makedirs(os.path.join(root, "landmark"), exist_ok=True)
    if image:
        cv2.imwrite(os.path.join(root, "picture", name), np.full((100, 120, 3), 128, np.uint8))
    if points is None:
        points = np.random.RandomState(0).uniform(10, 90, (106, 2))
    if text is None:
        text = f"{count or len(points)}\n" + "".join(f"{x} {y}\n" for x, y in points)
    if text is not False:
        with open(os.path.join(root, "landmark", name + ".txt"), "w") as f:
            f.write(text)


@pytest.fixture
def jd_root(tmp_path):
    root = str(tmp_path / "jd")
    _write_jd(root, "good.jpg")
    _write_jd(root, "no_landmarks.jpg", text=False)
    _write_jd(root, "short.jpg", points=np.ones((98, 2)))
    _write_jd(root, "words.jpg", text="106\n" + "1 2\n" * 105 + "x 3\n")
    _write_jd(root, "nan.jpg", text="106\n" + "1 2\n" * 105 + "nan 3\n")
    far = np.random.RandomState(1).uniform(10, 90, (106, 2))
    far[7] = [900.0, 50.0]
    _write_jd(root, "far.jpg", points=far)
    _write_jd(root, "truncated.jpg")
    path = os.path.join(root, "picture", "truncated.jpg")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    _write_jd(root, "garbage.jpg")
    open(os.path.join(root, "picture", "garbage.jpg"), "wb").write(b"not an image at all")
    _write_jd(root, "missing_image.jpg", image=False)
    return root


def test_jd_scan_reports_each_problem(jd_root):
    samples, problems = jd106.scan(jd_root, decode=True)
    assert [os.path.basename(s.image_path) for s in samples] == ["good.jpg"]
    by_file = {os.path.basename(p.path): p.message for p in problems}
    assert by_file["no_landmarks.jpg.txt"] == "landmark file is missing"
    assert by_file["short.jpg.txt"] == "expected 106 points, found 98"
    assert by_file["words.jpg.txt"] == "non-numeric coordinate 'x'"
    assert by_file["nan.jpg.txt"] == "NaN or infinite coordinate"
    assert "point 7 at (900.0, 50.0) is far outside the 120x100 image" in by_file["far.jpg.txt"]
    assert "truncated" in by_file["truncated.jpg"]
    assert "unreadable" in by_file["garbage.jpg"]
    assert by_file["missing_image.jpg.txt"] == "landmark file without an image in picture/"
    assert len(problems) == 8


def test_jd_read_sample_and_missing_root(jd_root, tmp_path):
    image, landmarks, rect = jd106.read_sample(jd_root, "good.jpg")
    assert image.shape == (100, 120, 3) and landmarks.shape == (106, 2) and rect is None
    with pytest.raises(DatasetError, match="dataset folder does not exist"):
        jd106.scan(str(tmp_path / "nowhere"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no JD-landmark data here"):
        jd106.scan(str(tmp_path / "empty"))


def test_check_dataset_tool_exit_codes(jd_root, tmp_path):
    tool = [sys.executable, os.path.join(ROOT, "tools", "check_dataset.py")]
    loose = subprocess.run(tool + [jd_root], capture_output=True, text=True, timeout=120)
    assert loose.returncode == 0, loose.stderr
    assert "1 usable samples, 8 unusable" in loose.stdout
    assert "short.jpg.txt: expected 106 points, found 98" in loose.stdout
    strict = subprocess.run(tool + [jd_root, "--strict"], capture_output=True, text=True,
                            timeout=120)
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    missing = subprocess.run(tool + [str(tmp_path / "nope")], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")
    assert "Traceback" not in missing.stderr


def test_read_pts(tmp_path):
    path = tmp_path / "a.pts"
    path.write_text("version: 1\nn_points:  68\n{\n" + "1.5 2.5\n" * 68 + "}\n")
    pts = w300.read_pts(str(path))
    assert pts.shape == (68, 2) and pts[0].tolist() == [1.5, 2.5]
    path.write_text("version: 1\nn_points: 68\n{\n" + "1 2\n" * 60 + "}\n")
    with pytest.raises(DatasetError, match="expected 68 points, found 60"):
        w300.read_pts(str(path))
    path.write_text("version: 1\nn_points: 68\n" + "1 2\n" * 68)
    with pytest.raises(DatasetError, match="between '{' and '}'"):
        w300.read_pts(str(path))


def test_wflw_lines(tmp_path):
    images = tmp_path / "WFLW_images" / "0--Parade"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "a.jpg"), np.zeros((200, 200, 3), np.uint8))
    coords = " ".join(["50 60"] * 98)
    annotations = tmp_path / "list.txt"
    annotations.write_text(f"{coords} 10 10 100 100 0 0 0 0 0 0 0--Parade/a.jpg\n"
                           f"{coords} 10 10 100 0 0 0 0 0 0 0--Parade/a.jpg\n")
    samples, problems = wflw.scan(str(annotations))
    assert len(samples) == 1 and samples[0].landmarks.shape == (98, 2)
    assert len(problems) == 1 and "expected 207 fields" in problems[0].message
    assert problems[0].path.endswith("list.txt:2")


def test_lapa_with_and_without_the_count_line(tmp_path):
    """LaPa's layout (images/, landmarks/, labels/ ignored): the count line is optional; bad
    files are one problem each, as in the JD reader."""
    from lotr_gluon.data.formats import scan_dataset

    split = tmp_path / "LaPa" / "train"
    for folder in ("images", "landmarks", "labels"):
        (split / folder).mkdir(parents=True)
    points = np.random.RandomState(2).uniform(10, 90, (106, 2))
    lines = "".join(f"{x} {y}\n" for x, y in points)
    files = {"counted": "106\n" + lines, "bare": lines, "short": "98\n" + "1 2\n" * 98,
             "odd": lines + "7\n", "words": "106\n" + "1 2\n" * 105 + "x 3\n"}
    for stem, text in files.items():
        cv2.imwrite(str(split / "images" / f"{stem}.jpg"), np.full((100, 120, 3), 90, np.uint8))
        (split / "landmarks" / f"{stem}.txt").write_text(text)
    (split / "landmarks" / "orphan.txt").write_text(lines)
    samples, problems = scan_dataset(str(tmp_path / "LaPa"), "lapa")
    assert sorted(os.path.basename(s.image_path) for s in samples) == ["bare.jpg",
                                                                       "counted.jpg"]
    for sample in samples:
        np.testing.assert_allclose(sample.landmarks, points)
    by_file = {os.path.basename(p.path): p.message for p in problems}
    assert by_file == {"short.txt": "expected 106 points, found 98",
                       "odd.txt": "first line should be the point count or 'x y' lines, "
                                  "found '{}'".format(points[0, 0]),
                       "words.txt": "non-numeric coordinate 'x'",
                       "orphan.txt": "landmark file without an image in images/"}
    with pytest.raises(DatasetError, match="no LaPa data here"):
        scan_dataset(str(split / "labels"), "lapa")
