"""Hybridization and export: the graph a deployment loads gives the Gluon model's numbers."""
import json
import os
import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest

import lotr_gluon
from lotr_gluon.data.crop_spec import CropSpec
from lotr_gluon.deploy.export import export_symbol


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _relative_error(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-6)


@pytest.mark.parametrize("name", ["lotr_m", "lotr_m+", "cnn_ffn_m"])
def test_hybridized_equals_imperative(name):
    net = lotr_gluon.get_model(name)
    x = mx.nd.random.uniform(0, 255, (2, 3, 192, 192))
    eager = net(x).asnumpy()
    net.hybridize(static_alloc=True, static_shape=True)
    assert _relative_error(net(x).asnumpy(), eager) < 1e-5


def test_export_then_import_in_fresh_process(tmp_path):
    net = lotr_gluon.get_model("lotr_m", num_points=68)
    x = np.random.RandomState(1).uniform(0, 255, (2, 3, 192, 192)).astype(np.float32)
    expected = net(mx.nd.array(x)).asnumpy()
    paths = export_symbol(net, str(tmp_path), "lotr_m")
    np.save(tmp_path / "x.npy", x)

    # A process that imports only mxnet and numpy, as a deployment would.
    script = textwrap.dedent(f"""
        import mxnet as mx, numpy as np
        net = mx.gluon.SymbolBlock.imports({paths['symbol']!r}, ['data'], {paths['params']!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        np.save({str(tmp_path / 'y.npy')!r}, net(mx.nd.array(x)).asnumpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    got = np.load(tmp_path / "y.npy")
    assert got.shape == (2, 68, 2)
    assert _relative_error(got, expected) < 1e-5

    sidecar = json.loads(open(paths["sidecar"]).read())
    assert sidecar["model"] == "lotr_m" and sidecar["num_points"] == 68
    assert sidecar["input_size"] == 192
    leftovers = [f for f in os.listdir(tmp_path) if f.startswith(".")]
    assert leftovers == []  # the staging folder and temp files are gone


@pytest.fixture(scope="module")
def exported_with_onnx(tmp_path_factory):
    """A random LOTR-M exported for box crops, with both ONNX flavors, and its Gluon twin."""
    pytest.importorskip("onnxruntime")
    out = tmp_path_factory.mktemp("onnx")
    net = lotr_gluon.get_model("lotr_m")
    net(mx.nd.zeros((1, 3, 192, 192)))
    paths = export_symbol(net, str(out), "lotr_m", crop=CropSpec(192, "bbox"), trained=False,
                          onnx=["lotr", "insightface"])
    return net, paths


def test_onnx_matches_gluon_with_dynamic_batch(exported_with_onnx):
    import onnx

    from lotr_gluon.deploy.onnx_export import OPSET, onnx_session, run_onnx

    net, paths = exported_with_onnx
    model = onnx.load(paths["onnx"])
    assert model.opset_import[0].version == OPSET
    assert [i.name for i in model.graph.input] == ["data"]  # weights are constants
    session = onnx_session(paths["onnx"])
    for batch in (1, 3):
        x = np.random.RandomState(batch).uniform(0, 255, (batch, 3, 192, 192)).astype(np.float32)
        got = run_onnx(session, x)
        assert got.shape == (batch, 106, 2)
        assert _relative_error(got, net(mx.nd.array(x)).asnumpy()) < 1e-4


def test_insightface_loads_the_flavor_and_agrees_with_our_predictor(exported_with_onnx):
    """insightface's own Landmark class, on its own crop, gives our Predictor's landmarks."""
    insightface = pytest.importorskip("insightface")
    from insightface.app.common import Face as InsightFace

    from lotr_gluon.data.detector import Face
    from lotr_gluon.deploy.predictor import Predictor

    _, paths = exported_with_onnx
    landmark_model = insightface.model_zoo.get_model(paths["onnx_insightface"])
    assert landmark_model.taskname == "landmark_2d_106"
    assert (landmark_model.input_mean, landmark_model.input_std) == (127.5, 128.0)

    image = np.random.RandomState(0).randint(0, 255, (300, 260, 3)).astype(np.uint8)
    box = np.array([70.0, 60.0, 190.0, 220.0])
    theirs = landmark_model.get(image, InsightFace(bbox=box))
    face = Face(box, 0.99, np.zeros((5, 2)))
    # float32 on both sides (insightface runs onnxruntime), so only the crops can differ
    ours = Predictor(os.path.dirname(paths["symbol"]), detector=lambda _: [face],
                     backend="onnxruntime")(image)
    assert len(ours) == 1
    np.testing.assert_allclose(ours[0].landmarks, theirs, atol=0.02)  # px, float32 rounding


def test_predictor_backends_agree(exported_with_onnx):
    from lotr_gluon.deploy.backends import available_backends, make_runner
    from lotr_gluon.deploy.model_files import find_exported

    _, paths = exported_with_onnx
    model = find_exported(os.path.dirname(paths["symbol"]))
    x = np.random.RandomState(5).uniform(0, 255, (2, 3, 192, 192)).astype(np.float32)
    outputs = {name: make_runner(model, name)(x) for name in available_backends()}
    for name, out in outputs.items():
        # bfloat16 keeps 8 bits of mantissa: about 0.4% of each value (float32 elsewhere).
        bound = 1e-2 if name.endswith("bf16") else 1e-4
        assert _relative_error(out, outputs["mxnet-static"]) < bound, name


def test_a_batch_split_over_threads_gives_the_gluon_models_numbers(exported_with_onnx, tmp_path):
    """Under the NaiveEngine the mxnet backend runs a batch as chunks on worker threads, each
    with its own graph: the answers are the Gluon model's, crop for crop, a failing chunk
    raises in the caller, the next batch is answered correctly, and the threads end with the
    network."""
    net, paths = exported_with_onnx
    x = np.random.RandomState(7).uniform(0, 255, (5, 3, 192, 192)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import numpy as np
        from lotr_gluon.deploy.backends import make_runner
        from lotr_gluon.deploy.model_files import find_exported
        run = make_runner(find_exported({os.path.dirname(paths['symbol'])!r}), "mxnet")
        x = np.load({str(tmp_path / 'x.npy')!r})
        single = np.concatenate([run(x[i:i + 1]) for i in range(len(x))])
        assert run.workers == 0, "one crop at a time needs no worker"
        whole = run(x)
        assert run.workers == 2, run.workers
        try:
            run(np.zeros((4, 3, 100, 100), np.float32))  # not the export's input size
        except Exception as err:
            print("refused:", type(err).__name__)
        np.save({str(tmp_path / 'y.npy')!r}, np.stack([single, whole, run(x)]))
        import gc, threading, time
        del run
        gc.collect()
        for _ in range(100):
            if not any(t.name.startswith("lotr-graph") for t in threading.enumerate()):
                break
            time.sleep(0.05)
        print("workers left:", sum(t.name.startswith("lotr-graph") for t in threading.enumerate()))
    """)
    env = dict(os.environ, MXNET_ENGINE_TYPE="NaiveEngine", OMP_NUM_THREADS="2")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused: MXNetError" in result.stdout
    assert "workers left: 0" in result.stdout  # the threads end with the network
    single, whole, again = np.load(tmp_path / "y.npy")
    expected = net(mx.nd.array(x)).asnumpy()
    assert _relative_error(single, expected) < 1e-4
    assert _relative_error(whole, expected) < 1e-4
    np.testing.assert_allclose(whole, single, rtol=0, atol=1e-4)  # px; the same kernels
    np.testing.assert_array_equal(again, whole)


def test_the_default_backend_runs_the_onnx_file_only_where_it_can(
        exported_with_onnx, fastest_onnx_backend):
    """``auto``: the fastest ONNX runtime for a float32 export with NAME.onnx on the CPU;
    mxnet without the file, for an int8 export (MXNet's own quantized graph) and on a GPU
    context."""
    import dataclasses

    import mxnet as mx

    from lotr_gluon.deploy.backends import resolve_backend
    from lotr_gluon.deploy.model_files import find_exported
    from lotr_gluon.deploy.predictor import Predictor

    _, paths = exported_with_onnx
    folder = os.path.dirname(paths["symbol"])
    model = find_exported(folder)
    # The fastest measured (docs/benchmarks.md): OpenVINO in bfloat16 on a CPU with bf16
    # instructions (the kernel's flags say), else onnxruntime.
    expected = fastest_onnx_backend
    assert model.onnx and resolve_backend(model) == expected
    assert Predictor(folder, detector=lambda _: []).backend == expected
    assert resolve_backend(dataclasses.replace(model, onnx=None)) == "mxnet"
    int8 = dataclasses.replace(model, sidecar=dataclasses.replace(model.sidecar,
                                                                  precision="int8"))
    assert resolve_backend(int8) == "mxnet"
    assert resolve_backend(model, ctx=mx.gpu(0)) == "mxnet"
    assert resolve_backend(model, "opencv") == "opencv"  # a named backend is kept


def test_the_photo_pipeline_benchmark_times_each_part_of_a_predictor_call(exported_with_onnx):
    from lotr_gluon.benchmark.pipeline import benchmark_pipeline
    from lotr_gluon.data.detector import Face
    from lotr_gluon.deploy.predictor import Predictor

    _, paths = exported_with_onnx
    faces = [Face(np.array([100.0, 100, 220, 240]), 0.9, None),
             Face(np.array([300.0, 80, 400, 200]), 0.8, None)]
    predictor = Predictor(os.path.dirname(paths["symbol"]), detector=lambda image: faces,
                          backend="onnxruntime")
    row = benchmark_pipeline(predictor, np.zeros((480, 640, 3), np.uint8), repeat=2, warmup=1)
    assert (row.faces, row.backend, row.detector) == (2, "onnxruntime", "a detector callable")
    parts = (row.detector_ms, row.crops_ms, row.network_ms, row.back_projection_ms)
    assert all(np.isfinite(v) and v >= 0 for v in parts + (row.photo_ms,))
    assert "2 faces in" in str(row)


def test_unknown_flavor_and_wrong_size_are_refused(tmp_path):
    net = lotr_gluon.get_model("lotr_m")
    with pytest.raises(ValueError, match="flavor"):
        export_symbol(net, str(tmp_path), "lotr_m", onnx=["tflite"])
    small = lotr_gluon.get_model("lotr_m", input_size=128)
    with pytest.raises(ValueError, match="192x192"):  # insightface would route it to ArcFace
        export_symbol(small, str(tmp_path), "lotr_m", crop=CropSpec(128, "bbox"),
                      onnx=["insightface"])


def test_the_insightface_flavor_of_a_five_point_model_is_refused_in_one_line(tmp_path):
    """insightface feeds a landmark model a box crop: a model trained on five-point aligned
    crops is refused before anything is written, by the API and by tools/export.py (exit 1,
    one line saying how to train one)."""
    from lotr_gluon.errors import UserError

    net = lotr_gluon.get_model("lotr_m")
    with pytest.raises(UserError, match=r"five_point crops .*--set data\.align=bbox"):
        export_symbol(net, str(tmp_path / "api"), "lotr_m", onnx=["lotr", "insightface"])
    assert not (tmp_path / "api").exists()
    out = tmp_path / "tool"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export.py"),
                             "--model", "lotr_m", "--out", str(out), "--onnx", "--flavor",
                             "insightface"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "data.align: five_point" in errors[0] and "--set data.align=bbox" in errors[0]
    assert not out.exists()


def test_cross_attention_is_the_decoders_and_matches_a_numpy_recomputation(tmp_path):
    """The exposed weights are the last decoder layer's cross-attention: (B, H, N, 6, 6) for
    LOTR-M at 192 px, each map summing to 1, equal to softmax(q k^T / sqrt(d_h)) recomputed
    in numpy from that layer's own weights and inputs."""
    from lotr_gluon.attention import cross_attention
    from lotr_gluon.deploy.model_files import find_exported

    net = lotr_gluon.get_model("lotr_m", num_layers=1, dropout=0.0)
    x = np.random.RandomState(3).uniform(0, 255, (2, 3, 192, 192)).astype(np.float32)
    net(mx.nd.array(x))
    net.queries.set_data(mx.nd.random.normal(0, 1, net.queries.shape))  # distinct queries
    captured = {}
    layer = net.transformer.decoder[0]
    hook = layer.cross_attn.register_forward_hook(
        lambda block, inputs, output: captured.update(q=inputs[0], k=inputs[1]))
    expected_points = net(mx.nd.array(x)).asnumpy()
    hook.detach()
    mha = layer.cross_attn
    heads = mha.num_heads

    def project(dense, value):
        w, b = dense.weight.data().asnumpy(), dense.bias.data().asnumpy()
        out = value.asnumpy() @ w.T + b  # (B, L, D)
        return out.reshape(out.shape[0], out.shape[1], heads, -1).transpose(0, 2, 1, 3)

    q, k = project(mha.query, captured["q"]), project(mha.key, captured["k"])
    logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)  # (B, H, N, 36)

    export_symbol(net, str(tmp_path), "lotr_m", trained=False)
    points, attention = cross_attention(find_exported(str(tmp_path)), x)
    assert attention.shape == (2, 8, 106, 6, 6)
    np.testing.assert_allclose(attention.sum(axis=(-1, -2)), 1.0, atol=1e-5)
    np.testing.assert_allclose(attention.reshape(weights.shape), weights, atol=1e-5)
    assert _relative_error(points, expected_points) < 1e-5


@pytest.mark.parametrize("name", [
    "lotr_m", "lotr_m+", "cnn_ffn_m", "heatmap_m", "heatmap_m_vec",
    *(pytest.param(name, marks=pytest.mark.slow)  # ResNet50: 10 s each
      for name in ("lotr_r+", "cnn_ffn_r", "heatmap_r", "heatmap_r_vec"))])
def test_opencv_dnn_loads_every_export_and_matches_onnxruntime_and_mxnet(name, tmp_path):
    """Issue 18: cv2.dnn (no MXNet, no onnxruntime) runs each model's ONNX file, both flavors
    where the model has them, and gives onnxruntime's and the Gluon model's numbers."""
    pytest.importorskip("onnxruntime")
    from lotr_gluon.deploy.onnx_export import onnx_session, opencv_net, run_onnx, run_opencv

    coordinates = name.startswith(("lotr", "cnn"))
    size = 192 if coordinates else 96  # the insightface flavor needs 192
    net = lotr_gluon.get_model(name, input_size=size)
    x = np.random.RandomState(3).uniform(0, 255, (2, 3, size, size)).astype(np.float32)
    gluon_out = net(mx.nd.array(x)).asnumpy()
    flavors = ["lotr", "insightface"] if coordinates else ["lotr"]
    paths = export_symbol(net, str(tmp_path), name, crop=CropSpec(size, "bbox"), trained=False,
                          onnx=flavors)
    got = run_opencv(opencv_net(paths["onnx"]), x)
    assert got.shape == gluon_out.shape
    assert _relative_error(got, run_onnx(onnx_session(paths["onnx"]), x)) < 1e-4
    assert _relative_error(got, gluon_out) < 1e-4
    if coordinates:
        normalised = (x[:1] - 127.5) / 128.0  # insightface's input convention
        got = run_opencv(opencv_net(paths["onnx_insightface"]), normalised)
        theirs = run_onnx(onnx_session(paths["onnx_insightface"]), normalised)
        assert got.shape == (1, 2 * net.num_points)
        assert _relative_error(got, theirs) < 1e-4


def test_opencv_refuses_a_file_it_cannot_read_in_one_line(tmp_path):
    from lotr_gluon.deploy.onnx_export import opencv_net

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(ValueError, match=r"broken.onnx: OpenCV .* cannot load it") as info:
        opencv_net(str(broken))
    assert "\n" not in str(info.value)


def test_the_sidecar_reads_back_what_export_writes_and_needs_every_key(tmp_path):
    """The file layout round-trips; a sidecar without one of the keys export writes, or with
    an unknown precision, is one error line naming the file and the key."""
    from lotr_gluon.data.landmarks import get_schema
    from lotr_gluon.deploy.sidecar import Sidecar, SidecarError

    net = lotr_gluon.get_model("lotr_m", input_size=64, num_layers=1)
    written = Sidecar.of("lotr_m", net, get_schema("jd106"), CropSpec(64), trained=False,
                         align_source="detector").to_dict()
    path = tmp_path / "lotr_m.json"
    path.write_text(json.dumps(written))
    assert Sidecar.read(str(path)).to_dict() == written
    for key in sorted(set(written) - {"input", "output"}):  # the two prose keys are not read
        path.write_text(json.dumps({k: v for k, v in written.items() if k != key}))
        with pytest.raises(SidecarError, match=rf"^\S*lotr_m.json: no '{key}'; re-export") as info:
            Sidecar.read(str(path))
        assert "\n" not in str(info.value)
    path.write_text(json.dumps({**written, "precision": "int4"}))
    with pytest.raises(SidecarError, match=r"lotr_m.json: precision 'int4' is not one of"):
        Sidecar.read(str(path))
    path.write_text("{not json")
    with pytest.raises(SidecarError, match="lotr_m.json: not valid JSON"):
        Sidecar.read(str(path))
