"""Heatmap and vector baselines: targets, sub-pixel decoding, losses, shapes, export."""
import os

import mxnet as mx
import numpy as np
import pytest

import lotr_gluon
from lotr_gluon.heatmap_codec import (OutputSpec, decode_heatmaps, decode_vectors, to_cells,
                                      to_pixels)
from lotr_gluon.losses import get_loss

STRIDE, SIGMA, SIZE, THETA = 4, 1.5, 48, 1.0
EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "experiments")


# Numpy references of the targets the losses build inside the graph (losses.py): the package
# has one implementation, the symbolic one; these check it and feed the decoding tests.
def gaussian_heatmaps(points: np.ndarray, size: int, sigma: float, stride: float
                      ) -> np.ndarray:
    """``(..., N, 2)`` input-pixel points -> ``(..., N, size, size)`` unit-peak Gaussians."""
    cells = to_cells(points, stride)
    grid = np.arange(size, dtype=np.float64)
    gx = np.exp(-(grid - cells[..., 0:1]) ** 2 / (2 * sigma ** 2))  # (..., N, W)
    gy = np.exp(-(grid - cells[..., 1:2]) ** 2 / (2 * sigma ** 2))  # (..., N, H)
    return gy[..., :, None] * gx[..., None, :]


def gaussian_vectors(points: np.ndarray, size: int, sigma: float, stride: float,
                     theta: float = THETA) -> np.ndarray:
    """``(..., N, 2)`` points -> ``(..., N, 2 * size)``: the x vector, then the y vector, as
    Xiong et al.'s quasi-Gaussians (a Gaussian lifted by theta within 3 sigma, 0 beyond)."""
    cells = to_cells(points, stride)
    grid = np.arange(size, dtype=np.float64)
    out = []
    for axis in (0, 1):
        d = np.abs(grid - cells[..., axis:axis + 1])
        out.append(np.where(d <= 3 * sigma, np.exp(-d ** 2 / (2 * sigma ** 2)) + theta, 0.0))
    return np.concatenate(out, axis=-1)


def band_pooled(maps: np.ndarray, widths=(3, 5)) -> np.ndarray:
    """``(B, N, H, W)`` -> ``(B, N, W + H)``: for each width w, the mean of the w whole columns
    (rows) centred on each cell, missing ones counted as zeros; the widths averaged."""
    b, n, h, w = maps.shape
    out = []
    for profile in (maps.mean(axis=2), maps.mean(axis=3)):  # x (length W), y (length H)
        fused = np.zeros_like(profile)
        for width in widths:
            padded = np.pad(profile, [(0, 0), (0, 0), (width // 2, width // 2)])
            fused += np.stack([padded[..., j:j + width].sum(-1) / width
                               for j in range(profile.shape[-1])], axis=-1)
        out.append(fused / len(widths))
    return np.concatenate(out, axis=-1)


def _points(low, high, seed=0):
    return np.random.RandomState(seed).uniform(low, high, (3, 106, 2))


def test_cell_coordinates_worked_example():
    # Input pixels 0..3 form cell 0, whose centre is pixel 1.5.
    np.testing.assert_allclose(to_cells([[1.5, 5.5]], 4), [[0.0, 1.0]])
    np.testing.assert_allclose(to_pixels(to_cells([[17.3, 101.9]], 4), 4), [[17.3, 101.9]])


def test_heatmap_targets_peak_at_the_point():
    maps = gaussian_heatmaps(np.array([[[9.5, 21.5]]]), SIZE, SIGMA, STRIDE)  # cells (2, 5)
    assert maps.shape == (1, 1, SIZE, SIZE)
    assert np.unravel_index(maps[0, 0].argmax(), maps[0, 0].shape) == (5, 2)
    assert maps[0, 0, 5, 2] == pytest.approx(1.0)
    assert maps[0, 0, 5, 3] == pytest.approx(np.exp(-1 / (2 * SIGMA ** 2)))


@pytest.mark.parametrize("smooth", [False, True])
def test_heatmaps_decode_to_sub_pixel_points(smooth):
    """Targets then decoding gives the points back within 0.05 px. With DARK's smoothing that
    holds away from the border (3 sigma), where the blur is not cut off by the map's edge."""
    points = _points(8 * STRIDE, (SIZE - 8) * STRIDE)
    decoded = decode_heatmaps(gaussian_heatmaps(points, SIZE, SIGMA, STRIDE), SIGMA, STRIDE,
                              smooth=smooth)
    assert np.abs(decoded - points).max() < 0.05
    argmax_only = decode_heatmaps(gaussian_heatmaps(points, SIZE, SIGMA, STRIDE), SIGMA,
                                  STRIDE, dark=False)
    assert np.abs(argmax_only - points).max() > 1.0  # quantised to 4 px cells without DARK


def test_unsmoothed_dark_is_exact_up_to_the_border():
    points = _points(STRIDE, (SIZE - 1) * STRIDE - 1, seed=1)
    decoded = decode_heatmaps(gaussian_heatmaps(points, SIZE, SIGMA, STRIDE), SIGMA, STRIDE,
                              smooth=False)
    assert np.abs(decoded - points).max() < 1e-6


def test_quasi_gaussian_worked_example():
    """A landmark at cell 10 (pixel 41.5): 1 + theta on it, exp(-1/2 sigma^2) + theta one cell
    away, exp(-4.5) + theta at 3 sigma (4.5 cells: not on the grid, so 4 cells), 0 at 5."""
    v = gaussian_vectors(np.array([[[41.5, 41.5]]]), SIZE, SIGMA, STRIDE)[0, 0, :SIZE]
    assert v[10] == pytest.approx(1 + THETA)
    assert v[11] == pytest.approx(np.exp(-1 / (2 * SIGMA ** 2)) + THETA)
    assert v[14] == pytest.approx(np.exp(-16 / (2 * SIGMA ** 2)) + THETA)
    assert v[15] == 0 and v[5] == 0 and v[6] > THETA


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("theta", [0.0, THETA])
def test_vectors_decode_to_sub_pixel_points(smooth, theta):
    points = _points(8 * STRIDE, (SIZE - 8) * STRIDE, seed=2)
    vectors = gaussian_vectors(points, SIZE, SIGMA, STRIDE, theta)
    assert vectors.shape == (3, 106, 2 * SIZE)
    decoded = decode_vectors(vectors, SIGMA, STRIDE, smooth=smooth, theta=theta)
    assert np.abs(decoded - points).max() < 0.05


@pytest.mark.parametrize("name,make", [("heatmap_mse", gaussian_heatmaps),
                                       ("vector_mse", gaussian_vectors)])
def test_losses_build_the_same_targets_on_the_device(name, make):
    points = _points(5, 187, seed=3)
    targets = make(points, SIZE, SIGMA, STRIDE)
    loss = get_loss(name)
    loss.hybridize()
    at_target = loss(mx.nd.array(targets), mx.nd.array(points)).asnumpy()
    assert np.abs(at_target).max() < 1e-6
    at_zero = loss(mx.nd.zeros(targets.shape), mx.nd.array(points)).asnumpy()
    np.testing.assert_allclose(at_zero, 0.5 * (targets ** 2).reshape(3, -1).sum(1), rtol=1e-4)


def test_vector_model_band_pools_its_maps_with_bands_3_and_5():
    net = lotr_gluon.get_model("heatmap_m_vec", input_size=64)
    x = mx.nd.random.uniform(0, 255, (2, 3, 64, 64))
    net.maps.weight.set_data(mx.nd.random.normal(0, 1, net.maps.weight.shape))  # not ~0 maps
    features = mx.nd.depth_to_space(net.upsample(net.backbone(x)), 2)
    maps = net.maps(features).asnumpy()
    np.testing.assert_allclose(net(x).asnumpy(), band_pooled(maps), rtol=1e-5,
                               atol=1e-5 * np.abs(maps).max())


@pytest.mark.parametrize("name,loss", [("heatmap_m", "heatmap_mse"), ("heatmap_m_vec",
                                                                        "vector_mse")])
def test_heatmap_heads_start_near_zero_maps(name, loss):
    """SimpleBaseline's start: the deconvolutions and output layer at N(0, 0.001), bias 0, so
    the first loss is within 1% of predicting all-zero maps (He init: ~150x that, README)."""
    net = lotr_gluon.get_model(name, input_size=64)
    x = mx.nd.random.uniform(0, 255, (4, 3, 64, 64))
    points = mx.nd.array(_points(8, 56, seed=5))
    out = net(x[:3])
    criterion = get_loss(loss)
    first = criterion(out, points).asnumpy()
    at_zero = criterion(mx.nd.zeros(out.shape), points).asnumpy()
    np.testing.assert_allclose(first, at_zero, rtol=0.01)
    small = [layer for layer in net.upsample if isinstance(layer, mx.gluon.nn.Conv2DTranspose)]
    weights = [layer.weight.data().asnumpy() for layer in small + [net.maps]]
    assert len(weights) == 3 and all(abs(w.std() - 1e-3) < 2e-4 for w in weights)
    assert np.all(net.maps.bias.data().asnumpy() == 0)


@pytest.mark.parametrize("name,shape", [("heatmap_m", (2, 106, 48, 48)),
                                        ("heatmap_m_vec", (2, 106, 96))])
def test_output_shapes_and_decoding_spec(name, shape):
    net = lotr_gluon.get_model(name)
    out = net(mx.nd.random.uniform(0, 255, (2, 3, 192, 192)))
    assert out.shape == shape
    spec = OutputSpec.of(net)
    assert spec.kind == ("vector" if name.endswith("vec") else "heatmap") and spec.stride == 4
    assert spec.decode(out.asnumpy()).shape == (2, 106, 2)


def test_paper_sizes_within_a_percent():
    """Table 3: 2.92M (MobileNetV2) and 24.42M (ResNet-50); widths chosen to land there."""
    from lotr_gluon.complexity import count_params
    from lotr_gluon.paper_results import load_paper_results

    table3 = load_paper_results()["table3"]
    for name in ("heatmap_m", "heatmap_r_vec"):
        net = lotr_gluon.get_model(name)
        net(mx.nd.zeros((1, 3, 192, 192)))
        assert count_params(net) / 1e6 == pytest.approx(table3[name]["params_m"], rel=0.01)


def test_heatmap_export_decodes_in_every_backend(tmp_path):
    pytest.importorskip("onnxruntime")
    from lotr_gluon.deploy.backends import available_backends, make_runner
    from lotr_gluon.deploy.export import export_symbol
    from lotr_gluon.deploy.model_files import find_exported

    net = lotr_gluon.get_model("heatmap_m")
    x = np.random.RandomState(4).uniform(0, 255, (2, 3, 192, 192)).astype(np.float32)
    expected_maps = net(mx.nd.array(x)).asnumpy()
    export_symbol(net, str(tmp_path), "heatmap_m", trained=False, onnx=["lotr"])
    model = find_exported(str(tmp_path))
    assert model.sidecar.output.kind == "heatmap"
    for backend in available_backends():
        maps = make_runner(model, backend, decode=False)(x)
        # bfloat16 keeps 8 bits of mantissa: on a CPU with avx512_bf16 the untrained model's
        # maps (peaks near 2e-5) differed by 2.2% of their peak, float32 backends by 6e-6.
        bound = 5e-2 if backend.endswith("bf16") else 1e-3
        assert np.abs(maps - expected_maps).max() < bound * np.abs(expected_maps).max()
        assert make_runner(model, backend)(x).shape == (2, 106, 2)
    with pytest.raises(ValueError, match="coordinate model"):
        export_symbol(net, str(tmp_path / "if"), "heatmap_m", onnx=["insightface"])


def test_the_trainer_trains_and_validates_a_vector_model_and_refuses_misfit_losses(tmp_path):
    from lotr_gluon.config import ConfigError, load_config
    from lotr_gluon.data.synthetic import write_synthetic_dataset
    from lotr_gluon.engine.trainer import Trainer

    write_synthetic_dataset(str(tmp_path / "d"), 20, seed=1, workers=1, progress=False)
    small = [f"data.root={tmp_path / 'd'}", "train.batch_size=4", "data.workers=0",
             "model.backbone_weights=none",
             "model.input_size=64", "train.epochs=1",
             "data.align_source=ground_truth"]  # no detections: this is about the model
    for loss in ("smooth_wing", "heatmap_mse"):
        cfg = load_config(os.path.join(EXPERIMENTS, "heatmap_m_vec.yaml"),
                          small + [f"loss.name={loss}"])
        with pytest.raises(ConfigError, match="outputs"):
            Trainer(cfg, str(tmp_path / loss), progress=False, report=lambda m: None)
    cfg = load_config(os.path.join(EXPERIMENTS, "heatmap_m_vec.yaml"), small)
    record = Trainer(cfg, str(tmp_path / "run"), progress=False, report=lambda m: None).fit()
    assert np.isfinite(record["loss"]) and 0 <= record["val"]["flip"]["auc"] <= 1
