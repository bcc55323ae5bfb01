"""A detector's ONNX network on OpenVINO, compiled once for each input shape it meets.

Static shapes run faster than one dynamic model, and a detector meets few: a pyramid level or
a padded photo size, a padded batch of crops. Each compiled model takes ``uint8`` pixels and
does the network's own scaling inside (a quarter of the bytes of float32 to hand over).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

Shape = Tuple[int, ...]


class CompiledPerShape:
    """``batch (uint8) -> [outputs]`` through a model compiled for ``batch.shape``.

    Parameters
    ----------
    model : str or bytes
        The ONNX file, or its bytes.
    outputs : sequence of str
        The output tensors returned, in this order.
    precision : str
        OpenVINO's ``INFERENCE_PRECISION_HINT`` (``bf16`` or ``f32``).
    prepare : callable
        ``prepare(steps)`` adds the input's preprocessing to an
        ``openvino.preprocess.PrePostProcessor`` (element type, layout, mean, scale).
    model_shape : callable, optional
        The model's input shape for a batch's shape (default the same).
    kept : int, optional
        Compiled models kept, least recently used dropped first (default all).

    Calls from several threads run one at a time (one infer request a shape).
    """

    def __init__(self, model: Union[str, bytes], outputs: Sequence[str], precision: str,
                 prepare: Callable[[object], None],
                 model_shape: Callable[[Shape], Sequence[int]] = tuple,
                 kept: Optional[int] = None):
        import openvino as ov

        self._ov, self._core = ov, ov.Core()
        self._model, self._outputs = model, list(outputs)
        self._config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
        self._prepare, self._model_shape, self._kept = prepare, model_shape, kept
        self._requests: "OrderedDict[Shape, object]" = OrderedDict()
        self._lock = threading.Lock()

    def _request(self, shape: Shape):
        if shape in self._requests:
            self._requests.move_to_end(shape)
            return self._requests[shape]
        ov = self._ov
        network = (self._core.read_model(self._model, b"") if isinstance(self._model, bytes)
                   else self._core.read_model(self._model))
        network.reshape({network.input(0): ov.PartialShape(list(self._model_shape(shape)))})
        steps = ov.preprocess.PrePostProcessor(network)
        self._prepare(steps)
        compiled = self._core.compile_model(steps.build(), "CPU", self._config)
        self._requests[shape] = compiled.create_infer_request()
        if self._kept is not None and len(self._requests) > self._kept:
            self._requests.popitem(last=False)
        return self._requests[shape]

    def __call__(self, batch: np.ndarray) -> List[np.ndarray]:
        with self._lock:
            request = self._request(batch.shape)
            request.infer({0: batch}, share_inputs=True)
            return [np.array(request.get_tensor(name).data, copy=True) for name in self._outputs]
