"""Model size and cost as the paper's Table 3 reports them: Params, Size (MB) and FLOPs."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Dict, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon


def _ensure_shapes(net: gluon.HybridBlock, input_shape: Sequence[int]) -> None:
    """Run one forward pass so that deferred-initialised parameters get their shapes."""
    if any(p.shape is None or 0 in p.shape for p in net.collect_params().values()):
        net(mx.nd.zeros(tuple(input_shape)))


def count_params(net: gluon.HybridBlock) -> int:
    """Every parameter array, BatchNorm running statistics included (Table 3's "Params").

    Fixed constants (the sine position table, the ImageNet mean/std) are not parameters.
    """
    return int(sum(np.prod(p.shape) for p in net.collect_params().values()
                   if not isinstance(p, gluon.Constant)))


def count_trainable(net: gluon.HybridBlock) -> int:
    """Parameters that receive gradients."""
    return int(sum(np.prod(p.shape) for p in net.collect_params().values()
                   if p.grad_req != "null"))


def size_mb(net: gluon.HybridBlock) -> float:
    """Trainable parameters as float32 in MiB (Table 3's "Size (MB)")."""
    return count_trainable(net) * 4 / 2 ** 20


def _node_macs(op: str, attrs: Dict[str, str], in_shapes: Sequence[Tuple[int, ...]],
               out_shape: Tuple[int, ...]) -> int:
    """Multiply-accumulates of one graph node; ops not listed are counted as free."""
    if op == "Convolution":  # weight (C_out, C_in/groups, kh, kw)
        return int(np.prod(out_shape) * np.prod(in_shapes[1][1:]))
    if op == "Deconvolution":  # weight (C_in, C_out/groups, kh, kw): each input scatters
        return int(np.prod(in_shapes[0]) * np.prod(in_shapes[1][1:]))
    if op == "FullyConnected":  # weight (units, in_units)
        return int(np.prod(out_shape) * in_shapes[1][1])
    if op in ("batch_dot", "dot"):
        transpose_a = attrs.get("transpose_a", "False") in ("True", "true", "1")
        lhs = in_shapes[0]
        inner = lhs[-2] if transpose_a else lhs[-1]
        return int(np.prod(out_shape) * inner)
    return 0


def count_macs(net: gluon.HybridBlock, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass of ``input_shape``.

    Counts convolutions, deconvolutions, dense layers and attention matmuls by walking the
    hybridized graph with inferred shapes; element-wise ops, norms and softmax are left out, as
    is usual for FLOP counts.
    """
    _ensure_shapes(net, input_shape)
    graph = net(mx.sym.var("data"))
    internals = graph.get_internals()
    _, out_shapes, _ = internals.infer_shape(data=tuple(input_shape))
    shape_of = dict(zip(internals.list_outputs(), out_shapes))  # variables included

    nodes = json.loads(graph.tojson())["nodes"]

    def output_name(node_id: int, index: int) -> str:
        node = nodes[node_id]
        if node["op"] == "null":
            return node["name"]
        single = f"{node['name']}_output"
        return single if single in shape_of else f"{single}{index}"

    total = 0
    for node_id, node in enumerate(nodes):
        if node["op"] == "null":
            continue
        in_shapes = [shape_of[output_name(i, k)] for i, k, *_ in node["inputs"]]
        total += _node_macs(node["op"], node.get("attrs", {}), in_shapes,
                            shape_of[output_name(node_id, 0)])
    return total


@dataclass
class ModelSummary:
    """One row of Table 3's model columns."""

    model: str
    params_m: float  # every parameter array / 1e6
    size_mb: float  # trainable float32 MiB
    gflops: float  # 2 x multiply-accumulates / 1e9
    gmacs: float
    input_shape: Tuple[int, ...]
    output_shape: Tuple[int, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def __str__(self) -> str:
        return (f"{self.model:<10} params {self.params_m:6.2f}M  size {self.size_mb:6.2f} MB  "
                f"FLOPs {self.gflops:6.3f} G  input {self.input_shape} -> {self.output_shape}")


def summarize(net: gluon.HybridBlock, name: str, input_size: int = 192) -> ModelSummary:
    """Params, size, FLOPs and output shape of ``net`` for one ``input_size`` crop."""
    input_shape = (1, 3, input_size, input_size)
    _ensure_shapes(net, input_shape)
    output_shape = tuple(net(mx.nd.zeros(input_shape)).shape)
    macs = count_macs(net, input_shape)
    return ModelSummary(model=name, params_m=round(count_params(net) / 1e6, 4),
                        size_mb=round(size_mb(net), 4), gflops=round(2 * macs / 1e9, 4),
                        gmacs=round(macs / 1e9, 4), input_shape=input_shape,
                        output_shape=output_shape)
