"""int8 export through MXNet's own oneDNN quantization (``tools/export.py --precision int8``).

The backbone's convolutions, but its first, run in int8; the first convolution, the
projection, the Transformer and the head stay float32. Calibration is naive (min/max of each
layer's output) on aligned crops of the run's training split. The layers kept in float32
are the ones whose quantization moved the validation NME by more than a deployment may lose;
the backbone alone in int8 leaves it unchanged (docs/deployment.md; speed in
docs/benchmarks.md).
"""
from __future__ import annotations

import json
import logging
from typing import List

import mxnet as mx
import numpy as np

# Layers that stay float32: all but the backbone, and the backbone's first convolution (its
# 3-channel input is where int8 loses most and gains least).
FLOAT_LAYERS_OUTSIDE = "_backbone"
FLOAT_FIRST_CONV = "features_conv0_"
QUANTIZABLE = ("Convolution", "FullyConnected")
CALIBRATION_CROPS = 64


def float_layers(symbol_file: str) -> List[str]:
    """The quantizable layers of an exported graph that stay float32 (see the module note)."""
    with open(symbol_file, encoding="utf-8") as f:
        nodes = json.load(f)["nodes"]
    return [n["name"] for n in nodes if n["op"] in QUANTIZABLE
            and (FLOAT_LAYERS_OUTSIDE not in n["name"] or FLOAT_FIRST_CONV in n["name"])]


def quantize_int8(symbol_file: str, params_file: str, crops: np.ndarray,
                  input_name: str = "data") -> mx.gluon.SymbolBlock:
    """The float32 graph of ``symbol_file`` with its backbone in int8, calibrated on
    ``crops`` (float32 RGB 0..255, ``(M, 3, S, S)``, aligned like the training crops)."""
    from mxnet.contrib.quantization import quantize_net_v2

    if len(crops) < 1:
        raise ValueError("int8 calibration needs at least one crop")
    net = mx.gluon.SymbolBlock.imports(symbol_file, [input_name], params_file)
    batch = min(16, len(crops))
    crops = crops[: len(crops) // batch * batch]
    calibration = mx.io.NDArrayIter(data={input_name: crops}, batch_size=batch)
    quiet = logging.getLogger("lotr_gluon.quantize")
    quiet.setLevel(logging.WARNING)
    quantized = quantize_net_v2(net, quantized_dtype="auto", quantize_mode="smart",
                                exclude_layers=float_layers(symbol_file),
                                calib_data=calibration, calib_mode="naive",
                                num_calib_examples=len(crops), ctx=mx.cpu(), logger=quiet)
    quantized.hybridize(static_alloc=True, static_shape=True)
    quantized(mx.nd.array(crops[:1])).wait_to_read()  # export() writes the graph a call built
    return quantized


def calibration_crops(dataset, count: int = CALIBRATION_CROPS) -> np.ndarray:
    """``count`` un-augmented crops spread evenly over ``dataset``."""
    picks = np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int)
    return np.stack([dataset[int(i)][0] for i in picks]).astype(np.float32)
