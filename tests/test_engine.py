"""Training engine on a tiny synthetic set: resume is exact, NaN stops cleanly, checkpoints
survive kill -9, and a trained run evaluates, exports and predicts."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import cv2
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from lotr_gluon.config import load_config
from lotr_gluon.data.synthetic import write_synthetic_dataset
from lotr_gluon.engine.checkpoint import load_checkpoint, read_checkpoint_meta
from lotr_gluon.engine.trainer import NonFiniteLossError, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["model.input_size=64", "train.batch_size=8", "data.workers=0", "train.lr_steps=[]",
        "train.optimizer=adam", "model.backbone_weights=none"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """40 synthetic faces (32 / 4 / 4) with the offline detector's detections beside them,
    as tools/detect_faces.py leaves them: lotr_m.yaml aligns by the detector."""
    from lotr_gluon.data.detections import detect_split, detections_file
    from lotr_gluon.data.detector import get_detector
    from lotr_gluon.data.formats import read_image_file, scan_dataset
    from lotr_gluon.data.landmarks import get_schema

    root = str(tmp_path_factory.mktemp("synth"))
    write_synthetic_dataset(root, 40, seed=2, workers=1, progress=False)
    detector = get_detector("retinaface-mnet")
    for split in ("train", "val", "test"):
        folder = os.path.join(root, split)
        detect_split(scan_dataset(folder)[0], read_image_file, detector, get_schema("jd106"),
                     detections_file(folder), progress=False, root=folder)
    return root


def _cfg(synth, *extra):
    return load_config(os.path.join(ROOT, "experiments", "lotr_m.yaml"),
                       TINY + [f"data.root={synth}", *extra])


def _params(net):
    return {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}


def test_resume_continues_exactly(synth, tmp_path):
    straight = Trainer(_cfg(synth, "train.epochs=2"), str(tmp_path / "a"), progress=False,
                       report=lambda _: None)
    assert not os.path.exists(tmp_path / "a"), "constructing a Trainer wrote files"
    straight.fit()
    first = Trainer(_cfg(synth, "train.epochs=1"), str(tmp_path / "b"), progress=False,
                    report=lambda _: None)
    first.fit()
    written = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "b").iterdir()}
    resumed = Trainer(_cfg(synth, "train.epochs=2"), str(tmp_path / "b"), resume=True,
                      progress=False, report=lambda _: None)
    assert resumed.start_epoch == 1
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "b").iterdir()} == written
    resumed.fit()
    a, b = _params(straight.net), _params(resumed.net)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7, err_msg=key)
    log = [json.loads(line) for line in open(tmp_path / "b" / "log.jsonl")]
    assert [r["epoch"] for r in log] == [1, 2]
    assert read_checkpoint_meta(str(tmp_path / "b" / "last.ckpt")).epoch == 2
    with pytest.raises(FileExistsError, match="already holds a run"):
        Trainer(_cfg(synth, "train.epochs=2"), str(tmp_path / "b"), progress=False)


def test_sparse_checkpoints_resume_from_the_last_one_and_relog_what_was_lost(synth, tmp_path,
                                                                            monkeypatch):
    extra = ("train.epochs=5", "train.checkpoint_every=2", "train.val_every=5")
    straight = Trainer(_cfg(synth, *extra), str(tmp_path / "a"), progress=False,
                       report=lambda _: None)
    straight.fit()
    run = tmp_path / "b"
    crashing = Trainer(_cfg(synth, *extra), str(run), progress=False, report=lambda _: None)
    one_epoch = Trainer.train_one_epoch

    def crash_in_epoch_4(self, epoch):
        if epoch == 3:
            raise KeyboardInterrupt
        return one_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "train_one_epoch", crash_in_epoch_4)
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    monkeypatch.setattr(Trainer, "train_one_epoch", one_epoch)
    epochs = lambda folder: [json.loads(line)["epoch"] for line in open(folder / "log.jsonl")]
    assert epochs(run) == [1, 2, 3]  # epoch 3 was logged, but the checkpoint is from epoch 2
    assert read_checkpoint_meta(str(run / "last.ckpt")).epoch == 2
    notes = []
    resumed = Trainer(_cfg(synth, *extra), str(run), resume=True, progress=False,
                      report=notes.append)
    assert resumed.start_epoch == 2 and epochs(run) == [1, 2, 3]  # nothing written yet
    resumed.open_run_folder()
    assert epochs(run) == [1, 2]
    assert any("1 logged epoch(s) after the checkpoint (epoch 2)" in n for n in notes)
    resumed.fit()
    assert epochs(run) == [1, 2, 3, 4, 5]
    assert read_checkpoint_meta(str(run / "last.ckpt")).epoch == 5
    losses = lambda folder: [json.loads(line)["loss"] for line in open(folder / "log.jsonl")]
    np.testing.assert_allclose(losses(run), losses(tmp_path / "a"), rtol=1e-5)


@pytest.mark.multi_device
def test_several_devices_split_the_batch_and_keep_one_set_of_weights(synth, tmp_path):
    """The multi-GPU path (split_and_load + kvstore 'device'), exercised with two CPU
    contexts: every device ends with the same weights, and the same YAML needs no edit."""
    trainer = Trainer(_cfg(synth, "train.epochs=1"), str(tmp_path / "two"),
                      ctx=[mx.cpu(0), mx.cpu(1)], progress=False, report=lambda _: None)
    record = trainer.fit()
    assert np.isfinite(record["loss"])
    for name, param in trainer.net.collect_params().items():
        if param.grad_req == "null":
            continue  # BatchNorm statistics are per device, as in any data-parallel run
        first, second = (d.asnumpy() for d in param.list_data())
        np.testing.assert_array_equal(first, second, err_msg=name)


def test_two_devices_sum_the_gradients_their_halves_give_on_one_device(synth, tmp_path):
    """Without sync_bn, the multi-device step against an independent one-device reference:
    each half of the batch forward and backward on its own (BatchNorm sees that half, as each
    device does), gradients added. After the kvstore's reduction both devices hold that sum."""
    from lotr_gluon.engine.builders import build_model
    from lotr_gluon.losses import get_loss

    cfg = _cfg(synth, "train.epochs=1", "model.dropout=0.0", "train.sync_bn=false")
    trainer = Trainer(cfg, str(tmp_path / "two"), ctx=[mx.cpu(0), mx.cpu(1)], progress=False,
                      report=lambda _: None)
    reference = build_model(cfg, trainer.schema.num_points, [mx.cpu()])
    images, targets = next(iter(trainer.train_loader))
    assert images.shape[0] == 8
    for net, ctx in ((reference, mx.cpu()), (trainer.net, mx.cpu(0))):
        net(images[:1].as_in_context(ctx))  # finish deferred initialisation (predict mode)
    for (name, mine), (_, theirs) in zip(sorted(reference._collect_params_with_prefix().items()),
                                         sorted(trainer.net._collect_params_with_prefix().items())):
        mine.set_data(theirs.data(mx.cpu(0)).copy())

    trainer._loss_and_backward(images, targets)
    trainer.trainer.allreduce_grads()

    params = reference.collect_params()
    for param in params.values():
        if param.grad_req != "null":  # constants (pixel mean, position table) stay as they are
            param.grad_req = "add"
    params.zero_grad()
    # The same static graph as the trainer's: an imperative reference differs by float32
    # round-off of another summation order (1e-4 on gradients of 1e2 that cancel to 1e-2).
    reference.hybridize(static_alloc=True, static_shape=True)
    loss = get_loss(cfg.loss.name, **cfg.loss.options)
    for half in (slice(0, 4), slice(4, 8)):
        with autograd.record():
            value = loss(reference(images[half]), targets[half])
        value.backward()
    compared = 0
    for name, param in sorted(trainer.net._collect_params_with_prefix().items()):
        if param.grad_req == "null":
            continue
        expected = reference._collect_params_with_prefix()[name].grad().asnumpy()
        for grad in param.list_grad():
            np.testing.assert_allclose(grad.asnumpy(), expected, rtol=1e-4,
                                       atol=1e-5 * np.abs(expected).max() + 1e-7, err_msg=name)
        compared += 1
    assert compared > 100


@pytest.mark.multi_device
def test_sync_batchnorm_over_two_halves_equals_one_device_with_the_whole_batch(synth, tmp_path):
    """The default with several devices: SyncBatchNorm. Two CPU contexts with 4 faces each give
    the gradients (summed by the kvstore) and running statistics of a plain one-device model
    that sees all 8 faces at once."""
    from mxnet.gluon.contrib.nn import SyncBatchNorm

    from lotr_gluon.engine.builders import build_model
    from lotr_gluon.losses import get_loss

    cfg = _cfg(synth, "train.epochs=1", "model.dropout=0.0")
    assert cfg.train.sync_bn
    trainer = Trainer(cfg, str(tmp_path / "sync"), ctx=[mx.cpu(0), mx.cpu(1)], progress=False,
                      report=lambda _: None)
    norms = [b for b in _blocks(trainer.net) if isinstance(b, mx.gluon.nn.BatchNorm)]
    assert len(norms) == 52 and all(isinstance(b, SyncBatchNorm) for b in norms)
    reference = build_model(cfg, trainer.schema.num_points, [mx.cpu()])  # plain BatchNorm
    assert not any(isinstance(b, SyncBatchNorm) for b in _blocks(reference))
    images, targets = next(iter(trainer.train_loader))
    for net, ctx in ((reference, mx.cpu()), (trainer.net, mx.cpu(0))):
        net(images[:1].as_in_context(ctx))
    ours = trainer.net._collect_params_with_prefix()
    theirs = reference._collect_params_with_prefix()
    for name, param in theirs.items():
        param.set_data(ours[name].data(mx.cpu(0)).copy())

    trainer._loss_and_backward(images, targets)
    trainer.trainer.allreduce_grads()
    reference.hybridize(static_alloc=True, static_shape=True)
    loss = get_loss(cfg.loss.name, **cfg.loss.options)
    with autograd.record():
        value = loss(reference(images), targets)
    value.backward()
    expected = {name: (theirs[name].grad() if param.grad_req != "null" else
                       theirs[name].data()).asnumpy() for name, param in ours.items()}
    # The reference's own float32 noise: the same batch in another order (BatchNorm and the
    # summed loss do not depend on it) rounds differently. Through 52 normalisations some
    # gradients that nearly cancel (a few BatchNorm shifts) move by tens of percent that way
    # on AVX2 kernels, the first convolution's by about 5%.
    order = mx.nd.array(np.random.RandomState(0).permutation(images.shape[0]))
    with autograd.record():
        value = loss(reference(images.take(order)), targets.take(order))
    value.backward()
    noise = {name: np.linalg.norm(theirs[name].grad().asnumpy() - expected[name])
             for name, param in ours.items() if param.grad_req != "null"}
    # Gradients that are zero but for round-off (e.g. attention key biases) are judged
    # against the typical gradient's size rather than their own.
    typical = np.median([np.linalg.norm(v) for v in expected.values()])
    compared = 0
    for name, param in sorted(ours.items()):
        values = param.list_grad() if param.grad_req != "null" else param.list_data()
        for got in values:  # gradients, and the BatchNorm running statistics
            # SyncBatchNorm's E[x^2] - E[x]^2 and BatchNorm's two passes round differently:
            # within twice the reference's own noise and 2% of the norm; normalising each half
            # on its own device instead is off by 135% (the first convolution).
            error = np.linalg.norm(got.asnumpy() - expected[name])
            bar = 2e-2 * np.linalg.norm(expected[name]) + 2 * noise.get(name, 0.0)
            assert error <= bar + 1e-4 * typical, name
        compared += name.endswith("running_mean") or name.endswith("running_var")
    assert compared == 2 * 52


def _blocks(block):
    yield block
    for child in block._children.values():
        yield from _blocks(child)


def test_kvstore_names_are_checked_and_dist_needs_the_launcher(monkeypatch):
    from lotr_gluon.config import ConfigError
    from lotr_gluon.engine.workers import Worker, open_worker

    monkeypatch.delenv("DMLC_ROLE", raising=False)
    with pytest.raises(ConfigError, match="unknown kvstore"):
        open_worker("dist_async")
    with pytest.raises(ConfigError, match="tools/launch.py"):
        open_worker("dist_sync")
    alone = open_worker("device")
    assert alone == Worker("device", 0, 1) and alone.is_chief and not alone.distributed


class _NaNLoss(mx.gluon.HybridBlock):
    def hybrid_forward(self, F, pred, target):
        return F.sum(pred, axis=0, exclude=True) * np.nan


def test_non_finite_loss_stops_and_keeps_last_checkpoint(synth, tmp_path):
    run = str(tmp_path / "nan")
    Trainer(_cfg(synth, "train.epochs=1"), run, progress=False, report=lambda _: None).fit()
    last = os.path.join(run, "last.ckpt")
    before = hashlib.sha256(open(last, "rb").read()).hexdigest()
    trainer = Trainer(_cfg(synth, "train.epochs=2"), run, resume=True, progress=False,
                      report=lambda _: None)
    trainable = {k for k, p in trainer.net._collect_params_with_prefix().items()
                 if p.grad_req != "null"}
    kept = _params(trainer.net)
    trainer.loss = _NaNLoss()
    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, iteration 1: training stopped "
                                                 r"before the update; the last good checkpoint "
                                                 r"is .*last.ckpt \(after epoch 1\)"):
        trainer.fit()
    assert hashlib.sha256(open(last, "rb").read()).hexdigest() == before
    # No optimizer step was applied. (BatchNorm running statistics do move in the forward
    # pass of the failing iteration; the checkpoint on disk, checked above, is what is kept.)
    for key in trainable:
        np.testing.assert_array_equal(_params(trainer.net)[key], kept[key])


def test_kill_during_checkpoint_save_leaves_previous_loadable(tmp_path):
    path = str(tmp_path / "ckpt" / "last.ckpt")
    script = textwrap.dedent(f"""
        import sys, mxnet as mx
        from mxnet.gluon import nn
        from lotr_gluon.engine.checkpoint import save_checkpoint
        net = nn.Dense(4096, in_units=4096)
        net.initialize(mx.init.Constant(1.0))
        save_checkpoint({path!r}, net, None, 1, None, {{}})
        print("ready", flush=True)
        epoch = 2
        while True:
            net.weight.set_data(mx.nd.full(net.weight.shape, epoch))
            save_checkpoint({path!r}, net, None, epoch, None, {{}})
            epoch += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # several saves, the kill lands in one of them
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    from mxnet.gluon import nn

    net = nn.Dense(4096, in_units=4096)
    net.initialize()
    meta = load_checkpoint(path, net)
    weight = net.weight.data().asnumpy()
    assert meta.epoch >= 1
    assert np.all(weight == (1.0 if meta.epoch == 1 else meta.epoch))  # one whole version


@pytest.fixture(scope="module")
def trained(synth, tmp_path_factory):
    run = str(tmp_path_factory.mktemp("run") / "tiny")
    Trainer(_cfg(synth, "train.epochs=1"), run, progress=False, report=lambda _: None).fit()
    return run


def _mean_shape_nme_by_hand(run: str) -> float:
    """The mean-shape floor, worked in numpy: the training crops' mean shape, taken back into
    each validation photo through the inverse of that face's alignment, its mean point error
    over sqrt(w * h) of the photo landmarks' box (the JD rule)."""
    from lotr_gluon.engine.builders import build_dataset

    cfg = load_config(os.path.join(run, "config.yaml"))
    quiet = lambda _: None  # noqa: E731
    train = build_dataset(cfg.data, "train", 64, report=quiet)
    val = build_dataset(cfg.data, "val", 64, report=quiet)
    mean = train.aligned_landmarks().astype(np.float64).mean(axis=0)  # (N, 2) crop pixels
    errors = []
    for sample, m in zip(val.samples, val.crop_matrices()):
        photo = (mean - m[:, 2]) @ np.linalg.inv(m[:, :2]).T
        gt = sample.landmarks
        w, h = gt.max(axis=0) - gt.min(axis=0)
        errors.append(np.linalg.norm(photo - gt, axis=1).mean() / np.sqrt(w * h))
    return float(np.mean(errors))


def _tool(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", args[0]), *args[1:]],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_eval_export_predict_tools(trained, synth, tmp_path):
    result = _tool("eval.py", "--checkpoint", trained, "--linear-floor")
    assert result.returncode == 0, result.stderr
    assert "no_flip" in result.stdout and "AUC" in result.stdout
    metrics = json.load(open(os.path.join(trained, "metrics.json")))
    for mode in ("no_flip", "flip"):
        assert set(metrics[mode]) == {"nme", "auc", "failure_rate"}
    assert metrics["num_images"] == 4
    assert metrics["mean_shape_nme"] == pytest.approx(_mean_shape_nme_by_hand(trained), rel=1e-6)
    assert 0 < metrics["linear_floor_nme"] < 1 and "linear floor NME" in result.stdout
    # lotr_m.yaml aligns by the detector: the run and the evaluation count how.
    counts = json.load(open(os.path.join(trained, "alignment.json")))
    for split, faces in (("train", 32), ("val", 4)):
        c = counts[split]
        assert c["source"] == "detector" and c["detected"] + c["fallback"] == faces
    assert counts["train"]["detected"] >= 24  # the detector finds most synthetic faces (91%)
    assert metrics["alignment"] == counts["val"] and metrics["frame"] == "photo"
    ced = cv2.imread(os.path.join(trained, "ced.png"))
    assert ced is not None and ced.shape[0] > 100 and ced.std() > 10  # a drawn figure
    assert metrics["start"] == {"backbone_weights": "none", "init_from": None}
    # another split goes beside the validation's report, not over it; a rerun says it replaced
    test = _tool("eval.py", "--checkpoint", trained, "--split", "test")
    assert test.returncode == 0 and os.path.isfile(os.path.join(trained, "test", "metrics.json"))
    assert "replaced" not in test.stdout
    assert json.load(open(os.path.join(trained, "metrics.json")))["linear_floor_nme"] > 0
    again = _tool("eval.py", "--checkpoint", trained, "--split", "test")
    assert again.returncode == 0 and "replaced the earlier ones" in again.stdout

    export = str(tmp_path / "export")
    result = _tool("export.py", "--checkpoint", trained, "--out", export)
    assert result.returncode == 0, result.stderr
    sidecar = json.load(open(os.path.join(export, "lotr_m.json")))
    assert sidecar["schema"] == "jd106" and sidecar["input_size"] == 64

    photo = os.path.join(synth, "test", "picture", "synth_000039.jpg")
    result = _tool("predict.py", photo, "/no/such/file.jpg", "--model", export, "--out",
                   str(tmp_path / "pred"), "--flip")
    assert result.returncode == 0, result.stderr
    assert "skipped /no/such/file.jpg" in result.stderr
    found = json.load(open(tmp_path / "pred" / "landmarks.json"))
    assert len(found[photo][0]["landmarks"]) == 106
    nothing = _tool("predict.py", "/no/such/file.jpg", "--model", export, "--out",
                    str(tmp_path / "pred2"))
    assert nothing.returncode == 1 and "no input could be read" in nothing.stderr
    assert not os.path.exists(tmp_path / "pred2")  # no empty output folder left behind


def test_predict_on_a_video_tracks_and_keeps_every_frame(trained, synth, tmp_path):
    """A short video written here goes through tools/predict.py, per frame and with
    --track: the annotated video has every frame, the JSON one record per frame and face."""
    import cv2

    from lotr_gluon.benchmark.video import trajectory_video
    from lotr_gluon.data.formats import scan_dataset

    export = str(tmp_path / "export")
    assert _tool("export.py", "--checkpoint", trained, "--out", export).returncode == 0
    sample = scan_dataset(os.path.join(synth, "test"), "jd106")[0][1]  # the detector finds it
    video = trajectory_video(cv2.imread(sample.image_path), sample.landmarks, num_frames=12,
                             size=(320, 240), leave=(4, 8), blur=(0, 0), noise=(0, 0))
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for frame in video.frames:
        writer.write(frame)
    writer.release()
    for extra in ([], ["--track", "--detect-every", "5"]):
        out = tmp_path / ("track" if extra else "plain")
        result = _tool("predict.py", path, "--model", export, "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr
        records = json.load(open(out / "landmarks.json"))["clip"]
        assert len(records) == 12 and all(isinstance(frame, list) for frame in records)
        assert any(records)  # the face was found in some frames
        for face in (face for frame in records for face in frame):
            assert len(face["landmarks"]) == 106 and ("id" in face) == bool(extra)
        written = cv2.VideoCapture(str(out / "clip_landmarks.mp4"))
        count = 0
        while written.read()[0]:
            count += 1
        assert count == 12
    # The webcam path, on a capture source that reads the file (no camera, no display here).
    live = _tool("predict.py", "--webcam", path, "--no-window", "--track", "--model", export,
                 "--out", str(tmp_path / "live"))
    assert live.returncode == 0, live.stderr
    assert len(json.load(open(tmp_path / "live" / "landmarks.json"))["webcam"]) == 12
    bad = _tool("predict.py", path, "--model", export, "--track", "--detect-every", "0",
                "--out", str(tmp_path / "bad"))
    assert bad.returncode == 1 and "detect_every must be at least 1" in bad.stderr


def test_predictor_maps_back_to_the_photo(trained, synth, tmp_path):
    """Landmarks mapped back to the photo and aligned again give the crop predictions."""
    from lotr_gluon.data import jd106
    from lotr_gluon.data.align import transform_points
    from lotr_gluon.data.detector import GroundTruthDetector
    from lotr_gluon.data.landmarks import JD106
    from lotr_gluon.deploy.predictor import Predictor

    export = str(tmp_path / "export")
    assert _tool("export.py", "--checkpoint", trained, "--out", export).returncode == 0
    image, landmarks, _ = jd106.read_sample(os.path.join(synth, "test"), "synth_000038.jpg")
    face = GroundTruthDetector(JD106).from_landmarks(landmarks)
    predictor = Predictor(export, detector=lambda img: [face, face])
    faces = predictor(image)
    assert len(faces) == 2 and faces[0].landmarks.shape == (106, 2)
    crop, matrix = predictor.crop(image, face)
    direct = predictor.predict_crops(crop[None])[0]
    np.testing.assert_allclose(transform_points(faces[0].landmarks, matrix), direct, atol=1e-3)


def test_offline_detector_finds_the_faces_in_a_real_photo():
    pytest.importorskip("insightface")
    import cv2

    from lotr_gluon.data.detector import bundled_photo, get_detector

    photo = bundled_photo()
    faces = get_detector("default")(cv2.imread(photo))
    assert len(faces) == 6
    for face in faces:
        x1, y1, x2, y2 = face.box
        (lx, ly), (rx, ry) = face.five_points[:2]
        assert x1 < lx < rx < x2 and y1 < ly < y2  # eyes inside the box, left of right


def test_a_failing_device_thread_does_not_hang_the_step():
    """A device whose peer failed would wait at the next SyncBatchNorm forever: the step
    raises the failure after the grace period instead of waiting for it."""
    import threading

    from lotr_gluon.engine.trainer import _in_threads

    never = threading.Event()

    def step(device):
        if device == 0:
            raise RuntimeError("device 0 failed")
        never.wait()  # a peer stuck at a barrier

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="device 0 failed"):
        _in_threads(step, [(0,), (1,)], grace_s=0.5)
    assert time.monotonic() - start < 30
    assert _in_threads(lambda a, b: a + b, [(1, 2), (3, 4)]) == [3, 7]


def test_int8_export_runs_the_backbone_in_int8_and_keeps_the_landmarks(trained, tmp_path):
    """tools/export.py --precision int8: the backbone's convolutions quantized (all but the
    first), calibrated on the run's training crops; its landmarks against the float32
    export's on the validation crops, the reference, within 1% of the face box."""
    from lotr_gluon.deploy.backends import make_runner
    from lotr_gluon.deploy.model_files import find_exported
    from lotr_gluon.engine.builders import build_dataset

    for precision in ("int8", "float32"):
        result = _tool("export.py", "--checkpoint", trained, "--out", str(tmp_path / precision),
                       "--precision", precision)
        assert result.returncode == 0, result.stderr
    int8, fp32 = (find_exported(str(tmp_path / p)) for p in ("int8", "float32"))
    assert (int8.sidecar.precision, fp32.sidecar.precision) == ("int8", "float32")
    quantized = [n for n in json.load(open(int8.symbol))["nodes"]
                 if n.get("attrs", {}).get("quantized") == "true"]
    convolutions = [n["name"] for n in json.load(open(fp32.symbol))["nodes"]
                    if n["op"] == "Convolution"]
    backbone = [name for name in convolutions if "_backbone" in name]
    assert len(backbone) < len(convolutions)  # the projection conv is not the backbone's
    assert len(quantized) == len(backbone) - 1  # each fused with its BatchNorm; not the first
    cfg = load_config(os.path.join(trained, "config.yaml"))
    val = build_dataset(cfg.data, "val", 64, report=lambda _: None)
    crops, truth = (np.stack(a) for a in zip(*(val[i] for i in range(len(val)))))
    ours, reference = make_runner(int8)(crops), make_runner(fp32)(crops)
    box = np.sqrt(np.prod(truth.max(axis=1) - truth.min(axis=1), axis=1))  # the face's
    assert np.mean(np.linalg.norm(ours - reference, axis=2).mean(axis=1) / box) < 0.01
    refused = _tool("export.py", "--checkpoint", trained, "--out", str(tmp_path / "x"),
                    "--precision", "int8", "--onnx")
    assert refused.returncode == 2 and "writes no ONNX" in refused.stderr


def test_multi_device_tests_run_in_their_own_process():
    """The SyncBatchNorm tests on two CPU contexts, in a process started with enough CPU
    workspaces (tests/conftest.py says why not this one)."""
    if os.environ.get("LOTR_MULTI_DEVICE") == "1":
        pytest.skip("this is that process")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "multi_device", "-p", "no:cacheprovider",
         os.path.join(ROOT, "tests")],
        env={**os.environ, "LOTR_MULTI_DEVICE": "1"}, cwd=ROOT, capture_output=True, text=True,
        timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout, result.stdout[-2000:]


_BROKEN_TRAINING = """
import runpy, sys
import numpy as np
from lotr_gluon.runtime import configure_runtime
configure_runtime()
from lotr_gluon.engine import trainer

def broken(self, images, targets):  # a bug deep in training, not the user's fault
    return np.zeros(2) + np.zeros(3)

trainer.Trainer._loss_and_backward = broken
sys.argv = ["tools/train.py"] + sys.argv[1:]
runpy.run_path("tools/train.py", run_name="__main__")
"""


def test_a_bug_in_training_shows_its_traceback_and_a_bad_value_one_line(synth, tmp_path):
    args = ["--config", os.path.join(ROOT, "experiments", "lotr_m.yaml"), "--no-progress",
            "--out", str(tmp_path / "run")] + [a for s in TINY + [f"data.root={synth}"]
                                               for a in ("--set", s)]
    bug = subprocess.run([sys.executable, "-c", _BROKEN_TRAINING, *args], capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert bug.returncode == 1
    assert "Traceback (most recent call last)" in bug.stderr
    assert "in broken" in bug.stderr and "could not be broadcast" in bug.stderr
    bad = _tool("train.py", *args, "--set", "train.lr=fast")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "train.lr" in lines[0]


def test_an_export_scores_as_its_checkpoint_on_the_backend_that_serves(trained, synth, tmp_path):
    """By default an export is evaluated as it serves (the Predictor's backend) and with the
    alignment its checkpoint was trained with (the sidecar records it): the two give the same
    numbers; every backend gives them too."""
    from lotr_gluon.deploy.backends import resolve_backend
    from lotr_gluon.deploy.export import export_checkpoint
    from lotr_gluon.deploy.model_files import find_exported
    from lotr_gluon.deploy.sidecar import Sidecar
    from lotr_gluon.evaluate import run_evaluation

    quiet = lambda _: None  # noqa: E731
    export = str(tmp_path / "export")
    export_checkpoint(trained, export, onnx=["lotr"])
    assert Sidecar.read(os.path.join(export, "lotr_m.json")).align_source == "detector"
    val = os.path.join(synth, "val")
    checkpoint = run_evaluation(checkpoint=trained, data=val, out_dir=str(tmp_path / "ckpt"),
                                report=quiet)
    served = run_evaluation(model_dir=export, data=val, out_dir=str(tmp_path / "auto"),
                            report=quiet)
    assert served["backend"] == resolve_backend(find_exported(export))  # the Predictor's
    assert served["alignment"] == checkpoint["alignment"]
    assert served["alignment"]["source"] == "detector"
    from lotr_gluon.deploy.backends import available_backends

    for backend in ("auto", "mxnet", "opencv") + tuple(b for b in available_backends()
                                                     if b.startswith("openvino")):
        out = served if backend == "auto" else run_evaluation(
            model_dir=export, data=val, out_dir=str(tmp_path / backend), report=quiet,
            backend=backend)
        for mode in ("no_flip", "flip"):
            bf16 = backend.endswith("bf16") or out.get("backend", "").endswith("bf16")
            close = 1e-2 if bf16 else 1e-4  # bfloat16: 8 mantissa bits
            assert out[mode]["nme"] == pytest.approx(checkpoint[mode]["nme"], rel=close), backend
