"""Attention and position encoding against plain-numpy references."""
import math

import mxnet as mx
import numpy as np

from lotr_gluon.models.position_encoding import SinePositionEncoding, sine_position_table
from lotr_gluon.models.transformer import MultiHeadAttention


def _dense(layer, x):
    return x @ layer.weight.data().asnumpy().T + layer.bias.data().asnumpy()


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def test_multi_head_attention_matches_numpy():
    rng = np.random.RandomState(0)
    d, heads = 16, 4
    mha = MultiHeadAttention(d, heads)
    mha.initialize(mx.init.Normal(0.3))
    q_in = rng.randn(2, 5, d).astype(np.float32)
    kv_in = rng.randn(2, 7, d).astype(np.float32)
    got = mha(mx.nd.array(q_in), mx.nd.array(kv_in), mx.nd.array(kv_in)).asnumpy()

    q, k, v = _dense(mha.query, q_in), _dense(mha.key, kv_in), _dense(mha.value, kv_in)
    dh = d // heads
    heads_out = []
    for h in range(heads):
        cols = slice(h * dh, (h + 1) * dh)
        weights = _softmax(q[..., cols] @ k[..., cols].transpose(0, 2, 1) / math.sqrt(dh))
        heads_out.append(weights @ v[..., cols])
    expected = _dense(mha.proj, np.concatenate(heads_out, axis=-1))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_attention_hybridized_equals_imperative():
    mha = MultiHeadAttention(16, 8)
    mha.initialize()
    x = mx.nd.random.normal(shape=(3, 9, 16))
    eager = mha(x, x, x).asnumpy()
    mha.hybridize(static_alloc=True, static_shape=True)
    np.testing.assert_allclose(mha(x, x, x).asnumpy(), eager, rtol=1e-5, atol=1e-6)


def test_sine_table_matches_scalar_formula():
    height, width, d = 3, 4, 8
    table = sine_position_table(height, width, d)
    half = d // 2
    for row in range(height):
        for col in range(width):
            for channel in range(d):
                if channel < half:  # first half encodes y, second half x
                    p, i = (row + 1) / height * 2 * math.pi, channel
                else:
                    p, i = (col + 1) / width * 2 * math.pi, channel - half
                angle = p / 10000 ** (2 * (i // 2) / half)
                want = math.sin(angle) if i % 2 == 0 else math.cos(angle)
                assert abs(table[row * width + col, channel] - want) < 1e-5


def test_position_block_returns_table_for_any_batch():
    block = SinePositionEncoding(2, 3, 8)
    block.initialize()
    out = block(mx.nd.zeros((5, 6, 8)))
    assert out.shape == (1, 6, 8)
    np.testing.assert_allclose(out.asnumpy()[0], sine_position_table(2, 3, 8))
