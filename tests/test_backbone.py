"""ImageNet weights from gluoncv's model store or a file: loading round-trips; a missing or
misfit file is one clear error."""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from gluoncv.model_zoo import get_mobilenet_v2

import lotr_gluon
from lotr_gluon.models import BackboneWeightsError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def _gluoncv_resnet50_file(path):
    """A gluoncv ResNet50-v1b classifier with random values, saved by gluoncv's own model."""
    from gluoncv.model_zoo import resnet50_v1b

    mx.random.seed(3)
    classifier = resnet50_v1b(pretrained=False)
    classifier.initialize(mx.init.Normal(0.2))
    classifier(mx.nd.zeros((1, 3, 64, 64)))
    for name, param in classifier._collect_params_with_prefix().items():
        if name.endswith("running_var"):
            param.set_data(mx.nd.random.uniform(0.5, 2, param.shape))
    classifier.save_parameters(str(path))
    return classifier


def _assert_backbone_is(net, classifier):
    ours = net.backbone.body._collect_params_with_prefix()
    theirs = {k: v for k, v in classifier._collect_params_with_prefix().items()
              if not k.startswith("fc.")}
    assert set(ours) == set(theirs) and len(ours) == 265  # 53 convs, 53 BNs x 4
    for key, param in theirs.items():
        np.testing.assert_array_equal(ours[key].data().asnumpy(), param.data().asnumpy(),
                                      err_msg=key)


def test_imagenet_resolves_through_gluoncvs_model_store(tmp_path, monkeypatch):
    """``imagenet`` finds gluoncv's file where gluoncv keeps it, $MXNET_HOME/models, under the
    name that carries its sha1. (The sha1 check itself is gluoncv's: a random file cannot pass
    it, so it is waved through here.)"""
    from gluoncv.model_zoo import model_store

    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    classifier = _gluoncv_resnet50_file(tmp_path / "models" / "resnet50_v1b-0ecdba34.params")
    monkeypatch.setattr(model_store, "check_sha1", lambda path, sha1: True)
    _assert_backbone_is(lotr_gluon.get_model("lotr_r+", backbone_weights="imagenet"),
                        classifier)


def test_a_weights_path_expands_the_home_folder(tmp_path, monkeypatch, gluoncv_weights):
    classifier, path = gluoncv_weights
    monkeypatch.setenv("HOME", os.path.dirname(path))
    net = lotr_gluon.get_model("lotr_m", backbone_weights="~/" + os.path.basename(path))
    first = "features.0.weight"
    np.testing.assert_array_equal(net.backbone.body._collect_params_with_prefix()[first]
                                  .data().asnumpy(),
                                  classifier._collect_params_with_prefix()[first].data().asnumpy())


def test_missing_imagenet_weights_offline_name_file_sha1_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    with pytest.raises(BackboneWeightsError) as err:
        lotr_gluon.get_model("lotr_m", backbone_weights="imagenet")
    message = str(err.value)
    assert "mobilenetv2_1.0-f9952bcd.params" in message
    assert "f9952bcde7a7982947ac5240546e1c1c8f057370" in message
    assert os.path.join(str(tmp_path), "models") in message
    assert "backbone_weights: none" in message


def test_train_without_the_weights_stops_before_reading_data(tmp_path):
    """The front door on a machine without the weights and no network: one message, non-zero
    exit, before the (empty) data folder is looked at."""
    empty = tmp_path / "jd"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "train.py"), "--config",
         os.path.join(ROOT, "experiments", "lotr_r+.yaml"), "--set", f"data.root={empty}",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "resnet50_v1b-0ecdba34.params" in done.stderr
    assert os.path.join(os.environ["MXNET_HOME"], "models") in done.stderr
    assert "Traceback" not in done.stderr and "data.train" not in done.stderr
    assert not os.path.exists(tmp_path / "run" / "last.ckpt")


def test_random_start_is_explicit_and_recorded():
    from lotr_gluon.config import load_config
    from lotr_gluon.engine.builders import start_of

    paper = load_config(os.path.join(ROOT, "experiments", "heatmap_r_vec.yaml"))
    assert paper.model.backbone_weights == "imagenet"
    demo = load_config(os.path.join(ROOT, "experiments", "demo_synthetic.yaml"))
    assert start_of(demo) == {"backbone_weights": "none", "init_from": None}
    tuned = load_config(os.path.join(ROOT, "experiments", "demo_synthetic.yaml"),
                        ["model.init_from=runs/x/best.ckpt"])
    assert start_of(tuned) == {"backbone_weights": None, "init_from": "runs/x/best.ckpt"}


def test_init_from_starts_from_a_checkpoints_weights(tmp_path):
    """mmpose's load_from: every array of the new model is the checkpoint's (its backbone not
    fetched from anywhere), the optimizer and schedule start afresh; a checkpoint of another
    model is refused naming model.init_from."""
    from lotr_gluon.config import ConfigError, load_config
    from lotr_gluon.engine.builders import build_model
    from lotr_gluon.engine.checkpoint import save_checkpoint

    pretrained = lotr_gluon.get_model("lotr_m", input_size=64)
    pretrained(mx.nd.zeros((1, 3, 64, 64)))
    for param in pretrained.collect_params().values():
        param.set_data(mx.nd.random.normal(0, 1, param.shape))
    path = str(tmp_path / "best.ckpt")
    save_checkpoint(path, pretrained, None, 14, 0.5, {})
    demo = os.path.join(ROOT, "experiments", "demo_synthetic.yaml")
    cfg = load_config(demo, ["model.input_size=64", "model.backbone_weights=imagenet",
                             f"model.init_from={tmp_path}"])  # a run folder finds best.ckpt
    net = build_model(cfg, 106)
    theirs = pretrained._collect_params_with_prefix()
    for name, param in net._collect_params_with_prefix().items():
        np.testing.assert_array_equal(param.data().asnumpy(), theirs[name].data().asnumpy(),
                                      err_msg=name)
    other = load_config(demo, ["model.name=lotr_m+", "model.input_size=64",
                               f"model.init_from={path}"])
    with pytest.raises(ConfigError, match="model.init_from: .*does not fit"):
        build_model(other, 106)
