"""Damaged photos are named wherever they are read: the one reader refuses a truncated JPEG
(which OpenCV would fill with grey) and a PNG failing its CRC, check_dataset.py lists them by
the same rule, and training finds them before its first epoch and leaves them out (recorded
in the run folder) or stops, as ``data.on_damaged`` says."""
import json
import os
import shutil
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from lotr_gluon.data.image_file import damage, find_damaged, read_image_file
from lotr_gluon.data.samples import DatasetError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["model.input_size=64", "train.batch_size=8", "data.workers=0", "train.lr_steps=[]",
        "train.optimizer=adam", "model.backbone_weights=none", "train.epochs=1",
        "train.warmup_iters=0", "train.val_every=1"]


def _jpeg(image=None, **params):
    image = np.full((48, 64, 3), 120, np.uint8) if image is None else image
    flags = [v for name, value in params.items() for v in (getattr(cv2, name), value)]
    return cv2.imencode(".jpg", image, flags)[1].tobytes()


def _textured():
    return cv2.GaussianBlur(np.random.RandomState(0).randint(0, 255, (96, 128, 3), np.uint8),
                            (5, 5), 0)


def test_a_jpeg_must_reach_its_end_marker():
    whole = _jpeg(_textured())
    assert damage(whole) is None
    assert damage(whole + b"\x00" * 64) is None  # padding after the marker
    assert damage(whole + b"a phone's appended video \xff\xd8 and more") is None
    for cut in (len(whole) // 3, len(whole) // 2, len(whole) - 2, len(whole) - 1):
        assert damage(whole[:cut]) == "truncated JPEG (it ends before its end-of-image marker)"
    assert damage(whole[:len(whole) // 2] + b"\x00" * 500) is not None  # zero-filled tail
    progressive = _jpeg(_textured(), IMWRITE_JPEG_PROGRESSIVE=1)
    restarts = _jpeg(_textured(), IMWRITE_JPEG_RST_INTERVAL=2)
    for data in (progressive, restarts):
        assert damage(data) is None and damage(data[:-200]) is not None


def test_a_thumbnails_end_marker_does_not_make_a_cut_jpeg_whole():
    """A JPEG cut right after the end marker of the thumbnail inside its APP1 segment still
    ends before its own: the segments are walked, not the last bytes read."""
    thumbnail = _jpeg(np.zeros((8, 8, 3), np.uint8))
    payload = b"Exif\x00\x00" + thumbnail
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    whole = _jpeg(_textured())
    with_thumbnail = whole[:2] + app1 + whole[2:]
    assert cv2.imdecode(np.frombuffer(with_thumbnail, np.uint8), 1) is not None
    assert damage(with_thumbnail) is None
    cut = with_thumbnail[:2 + len(app1)]
    assert cut.endswith(b"\xff\xd9")
    assert damage(cut) is not None


def test_a_png_must_pass_its_crc_and_reach_iend():
    whole = cv2.imencode(".png", _textured())[1].tobytes()
    assert damage(whole) is None
    idat = whole.index(b"IDAT")
    flipped = bytearray(whole)
    flipped[idat + 40] ^= 0x01
    assert damage(bytes(flipped)) == "damaged PNG (its IDAT chunk fails its CRC check)"
    assert damage(whole[:-12]) == "truncated PNG (it ends before its IEND chunk)"
    assert damage(whole[:len(whole) // 2]).startswith("truncated PNG")
    assert zlib.crc32(b"IEND") == int.from_bytes(whole[-4:], "big")  # the chunk layout read


def test_webp_and_bmp_must_be_as_long_as_their_headers_say():
    for ext, kind in ((".webp", "WebP"), (".bmp", "BMP")):
        data = cv2.imencode(ext, _textured())[1].tobytes()
        assert damage(data) is None
        assert damage(data[:-10]).startswith(f"truncated {kind}")
    assert damage(b"not an image at all") is None  # left to the decoder


def test_the_reader_refuses_what_opencv_would_grey_fill(tmp_path):
    path = str(tmp_path / "cut.jpg")
    whole = _jpeg(_textured())
    open(path, "wb").write(whole[:len(whole) // 2])
    assert cv2.imread(path) is not None  # OpenCV alone: a grey-filled photo
    with pytest.raises(DatasetError, match=r"cut.jpg: truncated JPEG"):
        read_image_file(path)
    open(path, "wb").write(b"not an image at all")
    with pytest.raises(DatasetError, match=r"cut.jpg: unreadable image"):
        read_image_file(path)
    with pytest.raises(DatasetError, match=r"gone.jpg: image file is missing"):
        read_image_file(str(tmp_path / "gone.jpg"))
    open(path, "wb").write(whole)
    assert read_image_file(path).shape == (96, 128, 3)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """20 synthetic faces (16 / 2 / 2); each test copies what it damages."""
    from lotr_gluon.data.synthetic import write_synthetic_dataset

    root = str(tmp_path_factory.mktemp("synth"))
    write_synthetic_dataset(root, 20, seed=6, size=128, workers=1, progress=False)
    return root


def _damaged_copy(synth, tmp_path):
    """The synthetic set with a truncated JPEG in train and a PNG-in-disguise failing its CRC
    in val; returns the root and the two damaged paths."""
    root = str(tmp_path / "data")
    shutil.copytree(synth, root)
    cut = os.path.join(root, "train", "picture", sorted(
        os.listdir(os.path.join(root, "train", "picture")))[3])
    data = open(cut, "rb").read()
    open(cut, "wb").write(data[:len(data) * 2 // 3])
    bad_crc = os.path.join(root, "val", "picture", sorted(
        os.listdir(os.path.join(root, "val", "picture")))[0])
    png = bytearray(cv2.imencode(".png", cv2.imread(bad_crc))[1].tobytes())
    png[png.index(b"IDAT") + 20] ^= 0x01
    open(bad_crc, "wb").write(bytes(png))
    return root, cut, bad_crc


def test_check_dataset_lists_them_by_the_same_rule(synth, tmp_path):
    root, cut, bad_crc = _damaged_copy(synth, tmp_path)
    assert [p.path for p in find_damaged([cut, bad_crc])] == [cut, bad_crc]
    tool = [sys.executable, os.path.join(ROOT, "tools", "check_dataset.py")]
    result = subprocess.run(tool + [root], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{cut}: truncated JPEG (it ends before its end-of-image marker)" in result.stdout
    assert f"{bad_crc}: damaged PNG (its IDAT chunk fails its CRC check)" in result.stdout
    assert "18 usable samples, 2 unusable" in result.stdout


def test_training_leaves_a_damaged_photo_out_before_the_first_epoch(synth, tmp_path):
    """The run names the truncated JPEG in its log and records it in damaged.json, the
    damaged validation photo too; no step or validation ever reads either file."""
    from lotr_gluon.config import load_config
    from lotr_gluon.engine.trainer import Trainer

    root, cut, bad_crc = _damaged_copy(synth, tmp_path)
    cfg = load_config(os.path.join(ROOT, "experiments", "demo_synthetic.yaml"),
                      TINY + [f"data.root={root}"])
    lines = []
    trainer = Trainer(cfg, str(tmp_path / "run"), progress=False, report=lines.append)
    log = "\n".join(lines)
    assert "1 damaged photo(s) left out (data.on_damaged: skip)" in log
    assert f"  {cut}: truncated JPEG (it ends before its end-of-image marker)" in log
    assert f"  {bad_crc}: damaged PNG" in log
    assert len(trainer.train_set) == 15 and len(trainer.val_set) == 1
    read = []
    for dataset in (trainer.train_set, trainer.val_set):
        reader = dataset.read_image
        dataset.read_image = lambda path, reader=reader: read.append(path) or reader(path)
    trainer.fit()
    assert read and cut not in read and bad_crc not in read
    record = json.load(open(tmp_path / "run" / "damaged.json"))
    assert record["train"] == {"count": 1, "files": [
        {"path": cut, "problem": "truncated JPEG (it ends before its end-of-image marker)"}]}
    assert record["val"]["count"] == 1 and record["val"]["files"][0]["path"] == bad_crc


def test_on_damaged_error_stops_the_run_in_one_line(synth, tmp_path):
    from lotr_gluon.config import ConfigError, load_config
    from lotr_gluon.engine.trainer import Trainer

    root, cut, _ = _damaged_copy(synth, tmp_path)
    cfg = load_config(os.path.join(ROOT, "experiments", "demo_synthetic.yaml"),
                      TINY + [f"data.root={root}", "data.on_damaged=error"])
    with pytest.raises(DatasetError) as info:
        Trainer(cfg, str(tmp_path / "run"), progress=False, report=lambda _: None)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{cut}: truncated JPEG")
    assert "data.on_damaged=skip" in message
    assert not os.path.exists(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"data.on_damaged must be one of \['skip', 'error'\]"):
        load_config(os.path.join(ROOT, "experiments", "demo_synthetic.yaml"),
                    [f"data.root={root}", "data.on_damaged=ignore"])
