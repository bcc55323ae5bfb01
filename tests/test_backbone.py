"""ImageNet weights from a user file: loading round-trips; bad files are clear errors."""
import mxnet as mx
import numpy as np
import pytest
from gluoncv.model_zoo import get_mobilenet_v2

import lotr_gluon
from lotr_gluon.models import BackboneWeightsError


@pytest.fixture(scope="module")
def gluoncv_weights(tmp_path_factory):
    """A gluoncv MobileNetV2-1.0 classifier saved as gluoncv saves its model-store files."""
    mx.random.seed(7)
    classifier = get_mobilenet_v2(1.0, pretrained=False)
    classifier.initialize(mx.init.Normal(0.5))
    classifier(mx.nd.zeros((1, 3, 224, 224)))
    # Give BatchNorm running statistics distinctive values so they are checked too.
    for name, param in classifier._collect_params_with_prefix().items():
        if name.endswith("running_mean"):
            param.set_data(mx.nd.random.uniform(-1, 1, param.shape))
    path = tmp_path_factory.mktemp("weights") / "mobilenetv2_1.0-test.params"
    classifier.save_parameters(str(path))
    return classifier, str(path)


def test_backbone_weights_round_trip(gluoncv_weights):
    classifier, path = gluoncv_weights
    net = lotr_gluon.get_model("lotr_m", backbone_weights=path)
    ours = net.backbone.body._collect_params_with_prefix()
    theirs = {k: v for k, v in classifier._collect_params_with_prefix().items()
              if k.startswith("features.")}
    assert set(ours) == set(theirs)
    for key, param in theirs.items():
        np.testing.assert_array_equal(ours[key].data().asnumpy(), param.data().asnumpy())
    assert net(mx.nd.zeros((1, 3, 192, 192))).shape == (1, 106, 2)


def test_missing_weights_file_names_what_to_put_there(tmp_path):
    missing = str(tmp_path / "nope.params")
    with pytest.raises(BackboneWeightsError, match="does not exist; put gluoncv's "
                                                   "mobilenetv2_1.0 ImageNet weights"):
        lotr_gluon.get_model("lotr_m", backbone_weights=missing)


def test_weights_of_the_wrong_backbone_are_refused(gluoncv_weights):
    _, mobilenet_file = gluoncv_weights
    with pytest.raises(BackboneWeightsError, match="does not fit backbone resnet50_v1b.*"
                                                   "resnet50_v1b ImageNet weights"):
        lotr_gluon.get_model("lotr_r+", backbone_weights=mobilenet_file)


def test_wrong_shapes_are_refused(tmp_path):
    path = str(tmp_path / "bad.params")
    mx.nd.save(path, {"features.0.weight": mx.nd.zeros((1, 1, 1, 1))})
    with pytest.raises(BackboneWeightsError, match="does not fit backbone mobilenetv2_1.0"):
        lotr_gluon.get_model("lotr_m", backbone_weights=path)
