"""The exported ``NAME.onnx`` on OpenVINO's CPU plugin (the optional ``openvino`` extra).

OpenVINO reads the ONNX file itself and compiles it for this CPU, in float32 or in bfloat16
(``INFERENCE_PRECISION_HINT``). bfloat16 runs on the CPU's bf16 instructions where it has them
(AVX-512 BF16, AMX; ``tools/doctor.py`` says); elsewhere OpenVINO keeps float32 arithmetic.
Each batch size gets a compiled model of its own with static shapes, built on its first use.
"""
from __future__ import annotations

import threading
from typing import Dict, Optional

import numpy as np

# backend name -> OpenVINO's inference precision
PRECISIONS: Dict[str, str] = {"openvino": "f32", "openvino-bf16": "bf16"}


class OpenVINONetwork:
    """``(B, 3, S, S)`` float32 crops -> the graph's output, on OpenVINO's CPU plugin.

    Parameters
    ----------
    path : str
        The exported ``NAME.onnx``.
    precision : str
        ``f32`` or ``bf16`` (OpenVINO's ``INFERENCE_PRECISION_HINT``).
    threads : int, optional
        Inference threads; default OpenVINO's own choice (the CPUs it may use).

    Calls from several threads run one at a time (one infer request per batch size).
    """

    def __init__(self, path: str, precision: str = "f32", threads: Optional[int] = None):
        try:
            import openvino as ov
        except ImportError as err:
            raise ImportError("the openvino backend needs OpenVINO: pip install -e "
                              "'.[openvino]'") from err
        self._ov = ov
        self._core = ov.Core()
        self._model = self._core.read_model(path)
        self._config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self._requests: Dict[int, object] = {}
        self._lock = threading.Lock()

    def _request(self, shape) -> object:
        batch = int(shape[0])
        if batch not in self._requests:
            model = self._model.clone()
            model.reshape({model.input(0): self._ov.PartialShape([int(d) for d in shape])})
            compiled = self._core.compile_model(model, "CPU", self._config)
            self._requests[batch] = compiled.create_infer_request()
        return self._requests[batch]

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        crops = np.ascontiguousarray(crops, dtype=np.float32)
        with self._lock:
            request = self._request(crops.shape)
            request.infer({0: crops})
            return np.array(request.get_output_tensor(0).data, copy=True)
