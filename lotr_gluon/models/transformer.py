"""DETR-style Transformer: post-norm encoder/decoder layers, position added to Q and K only.

All tensors are batch-first: ``(B, L, D)``. Heads are split with reshapes that use only the
0 (copy) and -1 (infer) codes and attention uses 4-D ``batch_dot``, so the graph survives
``hybridize()``, ``export()`` and the ONNX exporter.
"""
from __future__ import annotations

import math
from typing import Optional

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from ..errors import UserError


class MultiHeadAttention(HybridBlock):
    """Scaled dot-product attention over ``num_heads`` heads with separate Q/K/V projections.

    Parameters
    ----------
    d_model : int
        Token width; must be divisible by ``num_heads``.
    num_heads : int
        Number of attention heads.
    dropout : float
        Dropout on the attention weights.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0,
                 weight_init: Optional[mx.init.Initializer] = None, **kwargs):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise UserError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.scale = 1.0 / math.sqrt(d_model // num_heads)
        with self.name_scope():
            dense = lambda prefix: nn.Dense(d_model, flatten=False, in_units=d_model,
                                            weight_initializer=weight_init, prefix=prefix)
            self.query = dense("query_")
            self.key = dense("key_")
            self.value = dense("value_")
            self.proj = dense("proj_")
            self.attn_drop = nn.Dropout(dropout)

    def _split_heads(self, F, x):
        # (B, L, D) -> (B, H, L, D/H)
        return F.transpose(F.reshape(x, (0, 0, self.num_heads, -1)), axes=(0, 2, 1, 3))

    def hybrid_forward(self, F, query, key, value):
        q = self._split_heads(F, self.query(query)) * self.scale  # (B, H, Lq, dh)
        k = self._split_heads(F, self.key(key))  # (B, H, Lk, dh)
        v = self._split_heads(F, self.value(value))  # (B, H, Lk, dh)
        attn = F.softmax(F.batch_dot(q, k, transpose_b=True), axis=-1)  # (B, H, Lq, Lk)
        out = F.batch_dot(self.attn_drop(attn), v)  # (B, H, Lq, dh)
        out = F.reshape(F.transpose(out, axes=(0, 2, 1, 3)), (0, 0, -1))  # (B, Lq, D)
        return self.proj(out)


class FeedForward(HybridBlock):
    """Position-wise feed-forward sublayer: Dense(ffn_dim, relu) -> dropout -> Dense(d_model)."""

    def __init__(self, d_model: int, ffn_dim: int, dropout: float = 0.0,
                 weight_init: Optional[mx.init.Initializer] = None, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.fc1 = nn.Dense(ffn_dim, activation="relu", flatten=False, in_units=d_model,
                                weight_initializer=weight_init)
            self.drop = nn.Dropout(dropout)
            self.fc2 = nn.Dense(d_model, flatten=False, in_units=ffn_dim,
                                weight_initializer=weight_init)

    def hybrid_forward(self, F, x):
        return self.fc2(self.drop(self.fc1(x)))


class EncoderLayer(HybridBlock):
    """Self-attention then feed-forward, each followed by residual, dropout and LayerNorm."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float,
                 weight_init: Optional[mx.init.Initializer] = None, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.self_attn = MultiHeadAttention(d_model, num_heads, dropout, weight_init)
            self.ffn = FeedForward(d_model, ffn_dim, dropout, weight_init)
            self.drop1 = nn.Dropout(dropout)
            self.drop2 = nn.Dropout(dropout)
            self.norm1 = nn.LayerNorm(in_channels=d_model)
            self.norm2 = nn.LayerNorm(in_channels=d_model)

    def hybrid_forward(self, F, src, pos):
        qk = F.broadcast_add(src, pos)  # position on Q and K, not on V
        src = self.norm1(src + self.drop1(self.self_attn(qk, qk, src)))
        return self.norm2(src + self.drop2(self.ffn(src)))  # (B, HW, D)


class DecoderLayer(HybridBlock):
    """Self-attention over landmark tokens, cross-attention to the encoder memory, feed-forward."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float,
                 weight_init: Optional[mx.init.Initializer] = None, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.self_attn = MultiHeadAttention(d_model, num_heads, dropout, weight_init)
            self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout, weight_init)
            self.ffn = FeedForward(d_model, ffn_dim, dropout, weight_init)
            self.drop1 = nn.Dropout(dropout)
            self.drop2 = nn.Dropout(dropout)
            self.drop3 = nn.Dropout(dropout)
            self.norm1 = nn.LayerNorm(in_channels=d_model)
            self.norm2 = nn.LayerNorm(in_channels=d_model)
            self.norm3 = nn.LayerNorm(in_channels=d_model)

    def hybrid_forward(self, F, tgt, memory, pos, query_pos):
        qk = F.broadcast_add(tgt, query_pos)
        tgt = self.norm1(tgt + self.drop1(self.self_attn(qk, qk, tgt)))
        attended = self.cross_attn(F.broadcast_add(tgt, query_pos),
                                   F.broadcast_add(memory, pos), memory)
        tgt = self.norm2(tgt + self.drop2(attended))
        return self.norm3(tgt + self.drop3(self.ffn(tgt)))  # (B, N, D)


DECODER_INPUTS = ("queries", "zeros")
# Weight initialisation of the Transformer's dense layers. "xavier" (uniform, DETR's choice) is
# the default; "he" (the paper's stated init for all LOTR parameters) leaves None so the model's
# global He initialiser applies. Measured on 16 faces trained from scratch with Adam 1e-3: with
# He the residual branches outweigh each landmark's own token and all 106 outputs collapse onto
# the centroid (9.3 px L1 after 300 steps, LAMB or Adam); with Xavier they separate after ~150
# steps and reach 2.6 px by step 300.
TRANSFORMER_INITS = {"xavier": mx.init.Xavier(), "he": None}


class Transformer(HybridBlock):
    """``num_layers`` encoder layers, ``num_layers`` decoder layers and a final decoder LayerNorm.

    The learnable landmark queries are added to Q and K of every decoder attention, as DETR's
    query embeddings are. ``decoder_input`` says what enters the first decoder layer:
    ``"queries"`` (default), the paper's "the input to the first sublayer of the first decoder
    layer is a sequence of landmark queries", or ``"zeros"``, DETR's choice. With zeros the
    landmark tokens differ only through cross-attention, and a backbone trained from scratch
    gives a memory too uniform to tell them apart: every landmark collapses onto the face's
    centroid (measured: 16 faces overfit to 9.5 px L1 error against 1.2 px for the mean
    shape). With queries as input each landmark keeps its identity in the residual stream.

    Parameters
    ----------
    d_model, num_heads, ffn_dim, dropout : see :class:`EncoderLayer`.
    num_layers : int
        Layers in the encoder and, equally, in the decoder (the paper's L, Figure 3).
    decoder_input : str
        ``queries`` or ``zeros`` (see above).
    init : str
        ``xavier`` or ``he`` for the dense layers (see :data:`TRANSFORMER_INITS`).
    """

    def __init__(self, d_model: int = 64, num_heads: int = 8, ffn_dim: int = 128,
                 num_layers: int = 2, dropout: float = 0.1, decoder_input: str = "queries",
                 init: str = "xavier", **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise UserError(f"num_layers must be at least 1, got {num_layers}")
        if decoder_input not in DECODER_INPUTS:
            raise UserError(f"decoder_input must be one of {DECODER_INPUTS}, got "
                             f"{decoder_input!r}")
        if init not in TRANSFORMER_INITS:
            raise UserError(f"init must be one of {sorted(TRANSFORMER_INITS)}, got {init!r}")
        self.decoder_input = decoder_input
        weight_init = TRANSFORMER_INITS[init]
        with self.name_scope():
            self.encoder = nn.HybridSequential(prefix="encoder_")
            self.decoder = nn.HybridSequential(prefix="decoder_")
            for _ in range(num_layers):
                self.encoder.add(EncoderLayer(d_model, num_heads, ffn_dim, dropout, weight_init))
                self.decoder.add(DecoderLayer(d_model, num_heads, ffn_dim, dropout, weight_init))
            self.decoder_norm = nn.LayerNorm(in_channels=d_model)

    def hybrid_forward(self, F, src, pos, query_pos):
        # src (B, HW, D), pos (1, HW, D), query_pos (1, N, D)
        memory = src
        for layer in self.encoder:
            memory = layer(memory, pos)
        # (B, N, D): the queries themselves, or DETR's zeros, broadcast over the batch.
        batch_zeros = F.slice_axis(memory, axis=1, begin=0, end=1) * 0  # (B, 1, D)
        start = query_pos if self.decoder_input == "queries" else query_pos * 0
        tgt = F.broadcast_add(batch_zeros, start)
        for layer in self.decoder:
            tgt = layer(tgt, memory, pos, query_pos)
        return self.decoder_norm(tgt)  # (B, N, D)
