"""Where each landmark query looks: the decoder's cross-attention over the feature map.

The exported graph already computes these weights (the softmax inside every decoder layer's
cross-attention); :func:`cross_attention` exposes one layer's as a second output of the same
graph, so the maps belong to exactly the network that predicts the points.
"""
from __future__ import annotations

import math
import re
import warnings
from typing import List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np

from .deploy.model_files import ExportedModel
from .errors import UserError

# Each decoder layer has self-attention (multiheadattention0) then cross-attention (...1).
CROSS_ATTENTION = re.compile(r"decoderlayer(\d+)_multiheadattention1_softmax0_output$")


def cross_attention_outputs(symbol: mx.sym.Symbol) -> List[str]:
    """Names of the decoder cross-attention weights in ``symbol``, first layer first."""
    names = [n for n in symbol.get_internals().list_outputs() if CROSS_ATTENTION.search(n)]
    if not names:
        raise UserError("this graph has no decoder cross-attention (is it a LOTR model?)")
    return sorted(names, key=lambda n: int(CROSS_ATTENTION.search(n).group(1)))


def cross_attention(model: ExportedModel, crops: np.ndarray, layer: int = -1,
                    ctx: Optional[mx.Context] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Landmarks and one decoder layer's cross-attention for a batch of aligned crops.

    Returns
    -------
    landmarks : (B, N, 2) crop pixels
    attention : (B, H, N, h, w) weights over the ``h x w`` feature map; each (b, head, point)
        map sums to 1.
    """
    ctx = ctx or mx.cpu()
    symbol = mx.sym.load(model.symbol)
    names = cross_attention_outputs(symbol)
    try:
        chosen = names[layer]
    except IndexError:
        raise UserError(f"layer {layer}: the decoder has {len(names)} layers") from None
    internals = symbol.get_internals()
    outputs = mx.sym.Group([symbol, internals[chosen]])
    input_name = model.sidecar.input_name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net = mx.gluon.SymbolBlock(outputs, mx.sym.var(input_name))
        net.collect_params().load(model.params, ctx=ctx, ignore_extra=True,
                                  allow_missing=False)
    landmarks, attention = net(mx.nd.array(crops, ctx=ctx))
    attention = attention.asnumpy()  # (B, H, N, hw)
    side = int(round(math.sqrt(attention.shape[-1])))
    if side * side != attention.shape[-1]:
        raise UserError(f"attention over {attention.shape[-1]} tokens is not a square map")
    return landmarks.asnumpy(), attention.reshape(attention.shape[:3] + (side, side))


def map_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between two attention maps (0 same, 1 disjoint)."""
    return 0.5 * float(np.abs(np.asarray(a) - np.asarray(b)).sum())


def plot_attention(crop_rgb: np.ndarray, landmarks: np.ndarray, attention: np.ndarray,
                   points: Sequence[int], labels: Sequence[str], path: str,
                   per_head: bool = False) -> None:
    """One panel per landmark: its attention (heads averaged) over the aligned crop.

    ``attention`` is ``(H, N, h, w)`` for one face; with ``per_head`` each head gets its own
    column after the average.
    """
    import cv2

    from .viz import _pyplot, _save

    plt = _pyplot()
    size = crop_rgb.shape[0]
    heads = attention.shape[0] if per_head else 0
    cols = 1 + heads
    fig, axes = plt.subplots(len(points), cols, figsize=(2.4 * cols, 2.4 * len(points)),
                             squeeze=False)
    for row, (point, label) in enumerate(zip(points, labels)):
        maps = [attention[:, point].mean(axis=0)] + [attention[h, point] for h in range(heads)]
        titles = [f"{label} (#{point})"] + [f"head {h}" for h in range(heads)]
        for col, (weights, title) in enumerate(zip(maps, titles)):
            ax = axes[row][col]
            # Nearest upsampling: each cell is one token of the feature map the queries see.
            up = cv2.resize(weights.astype(np.float32), (size, size),
                            interpolation=cv2.INTER_NEAREST)
            ax.imshow(crop_rgb.astype(np.uint8))
            ax.imshow(up, cmap="inferno", alpha=0.55, vmin=0, vmax=max(float(up.max()), 1e-6))
            x, y = landmarks[point]
            ax.plot([x], [y], marker="+", color="cyan", markersize=12, mew=2)
            ax.set_xlim(-0.5, size - 0.5)  # a stray prediction must not rescale the panel
            ax.set_ylim(size - 0.5, -0.5)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
