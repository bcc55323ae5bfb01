"""DETR-style Transformer: post-norm encoder/decoder layers, position added to Q and K only.

All tensors are batch-first: ``(B, L, D)``. Heads are split with reshapes that use only the
0 (copy) and -1 (infer) codes and attention uses 4-D ``batch_dot``, so the graph survives
``hybridize()``, ``export()`` and the ONNX exporter.
"""
from __future__ import annotations

import math

from mxnet.gluon import HybridBlock, nn


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

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.scale = 1.0 / math.sqrt(d_model // num_heads)
        with self.name_scope():
            self.query = nn.Dense(d_model, flatten=False, in_units=d_model, prefix="query_")
            self.key = nn.Dense(d_model, flatten=False, in_units=d_model, prefix="key_")
            self.value = nn.Dense(d_model, flatten=False, in_units=d_model, prefix="value_")
            self.proj = nn.Dense(d_model, flatten=False, in_units=d_model, prefix="proj_")
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

    def __init__(self, d_model: int, ffn_dim: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.fc1 = nn.Dense(ffn_dim, activation="relu", flatten=False, in_units=d_model)
            self.drop = nn.Dropout(dropout)
            self.fc2 = nn.Dense(d_model, flatten=False, in_units=ffn_dim)

    def hybrid_forward(self, F, x):
        return self.fc2(self.drop(self.fc1(x)))


class EncoderLayer(HybridBlock):
    """Self-attention then feed-forward, each followed by residual, dropout and LayerNorm."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
            self.ffn = FeedForward(d_model, ffn_dim, dropout)
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

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
            self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
            self.ffn = FeedForward(d_model, ffn_dim, dropout)
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


class Transformer(HybridBlock):
    """``num_layers`` encoder layers, ``num_layers`` decoder layers and a final decoder LayerNorm.

    As in DETR the decoder input starts at zero and the learnable landmark queries enter as
    the decoder's position term, added to Q and K of every decoder attention.

    Parameters
    ----------
    d_model, num_heads, ffn_dim, dropout : see :class:`EncoderLayer`.
    num_layers : int
        Layers in the encoder and, equally, in the decoder (the paper's L, Figure 3).
    """

    def __init__(self, d_model: int = 64, num_heads: int = 8, ffn_dim: int = 128,
                 num_layers: int = 2, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        with self.name_scope():
            self.encoder = nn.HybridSequential(prefix="encoder_")
            self.decoder = nn.HybridSequential(prefix="decoder_")
            for _ in range(num_layers):
                self.encoder.add(EncoderLayer(d_model, num_heads, ffn_dim, dropout))
                self.decoder.add(DecoderLayer(d_model, num_heads, ffn_dim, dropout))
            self.decoder_norm = nn.LayerNorm(in_channels=d_model)

    def hybrid_forward(self, F, src, pos, query_pos):
        # src (B, HW, D), pos (1, HW, D), query_pos (1, N, D)
        memory = src
        for layer in self.encoder:
            memory = layer(memory, pos)
        # (B, N, D) zeros: broadcast a zero slice of the memory against the queries.
        tgt = F.broadcast_mul(F.slice_axis(memory, axis=1, begin=0, end=1) * 0, query_pos * 0)
        for layer in self.decoder:
            tgt = layer(tgt, memory, pos, query_pos)
        return self.decoder_norm(tgt)  # (B, N, D)
