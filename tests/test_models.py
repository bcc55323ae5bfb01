"""The paper's models: Table 3's Params and Size, shapes, overrides and initialisation."""
import mxnet as mx
import numpy as np
import pytest

import lotr_gluon
from lotr_gluon.complexity import count_params, size_mb
from lotr_gluon.model_zoo import models_of
from lotr_gluon.paper_results import load_paper_results

TABLE3 = load_paper_results()["table3"]
# The models that regress coordinates; the heatmap baselines have tests of their own.
PAPER_MODELS = models_of("lotr") + models_of("cnn_ffn")


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_params_and_size_equal_table3(built_model, name):
    net = built_model(name)
    assert f"{count_params(net) / 1e6:.2f}" == f"{TABLE3[name]['params_m']:.2f}"
    assert f"{size_mb(net):.2f}" == f"{TABLE3[name]['size_mb']:.2f}"


def _transformer_params(d, f, layers):
    """Hand count: attention = 4 dense d->d with bias; FFN d->f->d; LayerNorm 2d each."""
    attention = 4 * (d * d + d)
    ffn = d * f + f + f * d + d
    encoder = attention + ffn + 2 * 2 * d
    decoder = 2 * attention + ffn + 3 * 2 * d
    return layers * (encoder + decoder) + 2 * d  # + final decoder LayerNorm


@pytest.mark.parametrize("layers", [1, 2, 6])
def test_transformer_parameter_count_matches_hand_count(layers):
    net = lotr_gluon.get_model("lotr_m", num_layers=layers)
    assert count_params(net.transformer) == _transformer_params(64, 128, layers)


def test_lotr_m_parts_add_up_to_paper_layout(built_model):
    net = built_model("lotr_m")
    # 1x1 conv 1280->64 without bias, 106 queries of width 64, head 64-512-512-2.
    assert count_params(net.projection) == 1280 * 64
    assert net.queries.shape == (1, 106, 64)
    assert count_params(net.head) == (64 * 512 + 512) + (512 * 512 + 512) + (512 * 2 + 2)


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_forward_shape(built_model, name):
    out = built_model(name)(mx.nd.random.uniform(0, 255, (2, 3, 192, 192)))
    assert out.shape == (2, 106, 2)
    assert np.isfinite(out.asnumpy()).all()


@pytest.mark.parametrize("name,overrides,points", [
    ("lotr_m", dict(num_points=68), 68),
    ("lotr_m", dict(num_points=98), 98),
    ("lotr_m", dict(num_points=29), 29),
    ("lotr_m", dict(num_layers=1), 106),
    ("lotr_m", dict(num_layers=6), 106),
    ("lotr_m+", dict(num_points=68, d_model=128, num_heads=4, ffn_dim=256), 68),
    ("cnn_ffn_m", dict(num_points=68), 68),
    ("lotr_m", dict(input_size=256), 106),
])
def test_overrides(name, overrides, points):
    net = lotr_gluon.get_model(name, **overrides)
    size = overrides.get("input_size", 192)
    assert net(mx.nd.zeros((3, 3, size, size))).shape == (3, points, 2)


def test_num_layers_sets_encoder_and_decoder_depth():
    net = lotr_gluon.get_model("lotr_m", num_layers=3)
    assert len(net.transformer.encoder) == 3 and len(net.transformer.decoder) == 3


def test_plus_variants_see_a_24x24_map(built_model):
    for name, side in (("lotr_m", 6), ("lotr_m+", 24), ("lotr_r+", 24)):
        net = built_model(name)
        features = net.projection(net.backbone(mx.nd.zeros((1, 3, 192, 192))))
        assert features.shape == (1, 64, side, side)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown model 'lotr_x'.*lotr_m"):
        lotr_gluon.get_model("lotr_x")
    with pytest.raises(ValueError, match="does not take \\['num_point'\\]"):
        lotr_gluon.get_model("lotr_m", num_point=68)
    with pytest.raises(ValueError, match="multiple of the backbone stride 32"):
        lotr_gluon.get_model("lotr_m", input_size=200)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        lotr_gluon.get_model("lotr_m", num_heads=7)


def test_initialisation_queries_and_he_weights():
    mx.random.seed(0)
    net = lotr_gluon.get_model("lotr_m")
    queries = net.queries.data().asnumpy()
    assert abs(queries.std() - 1e-4) < 1e-5  # N(0, 1e-4)
    # He: variance 2 / fan_in for a dense layer (64 inputs -> std sqrt(2/64) = 0.177).
    weight = net.head.layers[0].weight.data().asnumpy()
    assert weight.shape == (512, 64)
    assert abs(weight.std() - np.sqrt(2 / 64)) < 0.01
    assert np.all(net.head.layers[0].bias.data().asnumpy() == 0)
    gamma = net.transformer.decoder_norm.gamma.data().asnumpy()
    assert np.all(gamma == 1)


@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_output_layer_init_scale(scale):
    """He for the output layer is N(0, 2 / 512); ``output_init_scale`` multiplies its std."""
    mx.random.seed(3)
    for name in ("lotr_m", "cnn_ffn_m"):
        net = lotr_gluon.get_model(name, output_init_scale=scale)
        weight = net.head.layers[-1].weight.data().asnumpy()
        assert weight.std() == pytest.approx(scale * np.sqrt(2 / 512), rel=0.1)
        hidden = net.head.layers[-2].weight.data().asnumpy()
        assert hidden.std() == pytest.approx(np.sqrt(2 / 512), rel=0.05)  # the rest stays He


@pytest.mark.parametrize("arch,blocks", [("mobilenetv2_1.0", 10), ("resnet50_v1b", 16)])
def test_zero_init_residual_starts_residual_blocks_as_identity(arch, blocks):
    """Sandler et al. 2018, Table 2: MobileNetV2's bottleneck stages repeat 1, 2, 3, 4, 3, 3, 1
    times and every block but a stage's first keeps its shape and has a shortcut, so
    0+1+2+3+2+2+0 = 10; ResNet-50 has 3+4+6+3 = 16 bottlenecks, all residual. With the option
    each of them starts by adding zero to its shortcut."""
    from gluoncv.model_zoo.mobilenet import LinearBottleneck

    from lotr_gluon.models.backbone import Backbone

    for zero in (True, False):
        backbone = Backbone(arch, zero_init_residual=zero)
        backbone.initialize(mx.init.Xavier())
        backbone(mx.nd.zeros((1, 3, 64, 64)))
        zeroed = [name for name, p in backbone.collect_params().items()
                  if name.endswith("gamma") and not p.data().asnumpy().any()]
        assert len(zeroed) == (blocks if zero else 0)
    if arch == "mobilenetv2_1.0":
        block = next(b for b in backbone.body.features if isinstance(b, LinearBottleneck)
                     and b.use_shortcut)
        zero_block = next(b for b in Backbone(arch).body.features
                          if isinstance(b, LinearBottleneck) and b.use_shortcut)
        zero_block.initialize(mx.init.Xavier())
        x = mx.nd.random.normal(shape=(2, 24, 8, 8))
        np.testing.assert_array_equal(zero_block(x).asnumpy(), x.asnumpy())
        assert not np.allclose(block(x).asnumpy(), x.asnumpy())


def test_output_starts_near_crop_centre():
    """A zero head output maps to the crop centre: (0 + 0.5) * 192 = 96 px."""
    net = lotr_gluon.get_model("lotr_m")
    last = net.head.layers[-1]
    last.weight.set_data(mx.nd.zeros(last.weight.shape))
    out = net(mx.nd.random.uniform(0, 255, (1, 3, 192, 192))).asnumpy()
    np.testing.assert_allclose(out, 96.0)


def test_position_table_is_fixed_and_not_counted(built_model):
    net = built_model("lotr_m+")
    table = net.position.table
    assert table.grad_req == "null"
    assert table.shape == (1, 24 * 24, 64)
    trainable = {p.name for p in net.collect_params().values() if p.grad_req != "null"}
    assert table.name not in trainable


@pytest.mark.parametrize("init,std", [("xavier", np.sqrt(3 / 64) / np.sqrt(3)),  # U(+-sqrt(6/128))
                                      ("he", np.sqrt(2 / 64))])  # N(0, 2/fan_in)
def test_transformer_init(init, std):
    mx.random.seed(1)
    net = lotr_gluon.get_model("lotr_m", transformer_init=init)
    weights = np.concatenate([p.data().asnumpy().ravel()
                              for name, p in net.transformer.collect_params().items()
                              if name.endswith("weight") and p.shape == (64, 64)])
    assert abs(weights.std() - std) < 0.01
    head = net.head.layers[0].weight.data().asnumpy()
    assert abs(head.std() - np.sqrt(2 / 64)) < 0.01  # the head is He either way


def test_decoder_input_is_what_enters_the_first_decoder_layer(tmp_path):
    """``queries``: the first decoder layer reads the landmark queries, one copy per image;
    ``zeros`` (DETR): it reads zeros. The same weights then give other landmarks."""
    images = mx.nd.random.uniform(0, 255, (2, 3, 64, 64))
    weights = str(tmp_path / "weights.params")
    first_input, landmarks = {}, {}
    for choice in ("queries", "zeros"):
        net = lotr_gluon.get_model("lotr_m", decoder_input=choice, num_layers=1, input_size=64,
                                   dropout=0.0)
        net(images)  # every parameter gets its shape
        if choice == "queries":
            # Queries of unit scale, so that their effect is far above rounding.
            net.queries.set_data(mx.nd.random.normal(0, 1, net.queries.shape))
            net.save_parameters(weights)
        else:
            net.load_parameters(weights)
        net.transformer.decoder[0].register_forward_pre_hook(
            lambda block, inputs, choice=choice: first_input.update({choice: inputs[0].asnumpy()}))
        landmarks[choice] = net(images).asnumpy()
    queries = net.queries.data().asnumpy()  # (1, 106, 64), the same in both networks
    np.testing.assert_array_equal(first_input["queries"], np.concatenate([queries, queries]))
    np.testing.assert_array_equal(first_input["zeros"], np.zeros((2, 106, 64)))
    assert np.abs(landmarks["queries"] - landmarks["zeros"]).max() > 0.1  # crop pixels
    with pytest.raises(ValueError, match="decoder_input must be one of"):
        lotr_gluon.get_model("lotr_m", decoder_input="nope")
