"""Config loading: inheritance, overrides, and errors that name the key and the file."""
import glob
import os

import pytest

from lotr_gluon.cli import parse_overrides
from lotr_gluon.config import (ConfigError, config_from_dict, config_to_dict, load_config,
                               resolve_split)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(ROOT, "experiments")


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("path", sorted(
    p for p in glob.glob(os.path.join(EXPERIMENTS, "**", "*.yaml"), recursive=True)
    if not p.endswith("paper_results.yaml")
    and os.sep + "budgets" + os.sep not in p))  # budgets are layers over them (below)
def test_every_experiment_loads(path):
    cfg = load_config(path)
    assert cfg.train.epochs >= 1


def test_a_base_chain_resolves_key_by_key_with_the_nearest_file_winning(tmp_path):
    """Three files, the child in a folder of its own (``base:`` is relative to the file that
    names it): sections merge key by key at every depth, a list is replaced whole, and a key
    no file gives keeps the dataclass default. The expectation is written from the defaults."""
    from lotr_gluon.config import Config, LossConfig, ModelConfig, TrainConfig
    from lotr_gluon.data.data_config import DataConfig
    from lotr_gluon.data.transforms import AugmentConfig

    _write(tmp_path / "grand.yaml", "model:\n  name: lotr_m\n  num_layers: 3\n"
                                    "loss:\n  name: smooth_wing\n  t: 0.02\n"
                                    "train:\n  epochs: 10\n  lr_steps: [5, 8]\n"
                                    "data:\n  augment:\n    rotation: 10.0\n    flip: 0.0\n")
    _write(tmp_path / "parent.yaml", "base: grand.yaml\ntrain:\n  lr_steps: [7]\n"
                                     "data:\n  augment:\n    scale: 0.2\n")
    (tmp_path / "sub").mkdir()
    child = _write(tmp_path / "sub" / "child.yaml", "base: ../parent.yaml\n"
                                                    "model:\n  dropout: 0.2\n"
                                                    "train:\n  epochs: 4\n")
    expected = Config(model=ModelConfig(name="lotr_m", options={"num_layers": 3, "dropout": 0.2}),
                      loss=LossConfig(name="smooth_wing", options={"t": 0.02}),
                      train=TrainConfig(epochs=4, lr_steps=[7]),
                      data=DataConfig(augment=AugmentConfig(rotation=10.0, flip=0.0, scale=0.2)))
    assert load_config(child) == expected


def test_every_paper_experiment_starts_from_imagenet_and_the_cpu_recipes_do_not():
    """Section 4.3: both backbones are ImageNet-pretrained. The demo and the mini budget
    start from random weights, and say so."""
    from lotr_gluon.reproduce.plan import load_budget

    papers = [p for p in glob.glob(os.path.join(EXPERIMENTS, "**", "*.yaml"), recursive=True)
              if os.path.basename(os.path.dirname(p)) != "budgets"
              and os.path.basename(p) not in ("demo_synthetic.yaml", "paper_results.yaml")]
    assert len(papers) == 9 + 18 + 12  # Table 3 models, Figure 3 layers, Table 4 losses
    for paper in papers:
        assert load_config(paper).model.backbone_weights == "imagenet", paper
    demo = load_config(os.path.join(EXPERIMENTS, "demo_synthetic.yaml"))
    assert demo.model.backbone_weights == "none"
    mini = load_budget("mini").layer
    assert load_config(papers[0], layers=[mini]).model.backbone_weights == "none"


def test_a_budget_is_a_layer_merged_by_the_rule_of_the_files(tmp_path):
    """A budget's sections merge into the experiment's key by key (data.workers from the
    budget, data.align_source from the file), ahead of --set, and name themselves in errors."""
    path = os.path.join(EXPERIMENTS, "lotr_m.yaml")
    layer = ("budget.yaml", {"data": {"workers": 1}, "train": {"epochs": 8}})
    cfg = load_config(path, ["train.epochs=2"], layers=[layer])
    assert (cfg.data.workers, cfg.data.align_source, cfg.train.epochs) == (1, "detector", 2)
    with pytest.raises(ConfigError, match=r"budget.yaml: unknown key train.epoch \(did you"):
        load_config(path, layers=[("budget.yaml", {"train": {"epoch": 8}})])


def test_naming_another_model_keeps_how_the_run_starts():
    """Naming a model drops the options it inherits (num_layers from the file) but not the
    start (backbone_weights, init_from)."""
    cfg = load_config(os.path.join(EXPERIMENTS, "demo_synthetic.yaml"),
                      ["model.init_from=runs/a", "model.name=cnn_ffn_m"])
    assert cfg.model.options == {}
    assert (cfg.model.backbone_weights, cfg.model.init_from) == ("none", "runs/a")


def test_options_given_with_the_new_name_apply_whatever_their_order(tmp_path):
    """One rule for files and --set: a layer that names another model replaces what it
    inherits, and the options of that same layer apply to the new model."""
    base = _write(tmp_path / "base.yaml", "model:\n  name: lotr_m\n  num_layers: 3\n"
                                          "  dropout: 0.2\n")
    child = _write(tmp_path / "child.yaml", "base: base.yaml\nmodel:\n  num_layers: 1\n"
                                            "  name: lotr_m+\n")
    assert load_config(child).model.options == {"num_layers": 1}
    for order in (["model.num_layers=1", "model.name=lotr_m+"],
                  ["model.name=lotr_m+", "model.num_layers=1"]):
        cfg = load_config(base, order)
        assert (cfg.model.name, cfg.model.options) == ("lotr_m+", {"num_layers": 1}), order
    # Set for a model that does not take it: an error, not a silent drop.
    with pytest.raises(ConfigError, match="unknown key model.num_layers"):
        load_config(base, ["model.num_layers=1", "model.name=cnn_ffn_m"])


def test_optional_fields_are_type_checked():
    """The type check reads the annotation, not its text: an Optional[int] is checked."""
    from dataclasses import dataclass
    from typing import List, Optional

    from lotr_gluon.config import _build

    @dataclass
    class Probe:
        limit: Optional[int] = None
        steps: List[int] = None

    assert _build(Probe, {"limit": None, "steps": [1]}, {}, "p.yaml", "") == Probe(None, [1])
    with pytest.raises(ConfigError, match="p.yaml: limit must be a whole number, got 'x'"):
        _build(Probe, {"limit": "x"}, {}, "p.yaml", "")
    with pytest.raises(ConfigError, match="steps must be a list of whole numbers"):
        _build(Probe, {"steps": [1.5]}, {}, "p.yaml", "")


def test_ablations_inherit():
    wing = load_config(os.path.join(EXPERIMENTS, "losses", "lotr_m+_wing.yaml"))
    assert wing.model.name == "lotr_m+" and wing.loss.name == "wing"
    assert wing.loss.options == {"w": 10.0, "eps": 2.0}  # smooth-Wing's t is not carried over
    l1 = load_config(os.path.join(EXPERIMENTS, "losses", "lotr_m_l1.yaml"))
    assert l1.loss.options == {}
    layers = load_config(os.path.join(EXPERIMENTS, "layers", "lotr_r+_L6.yaml"))
    assert layers.model.name == "lotr_r+" and layers.model.options == {"num_layers": 6}


def test_errors_name_key_and_file(tmp_path):
    base = _write(tmp_path / "base.yaml", "train:\n  epochs: 3\n")
    child = _write(tmp_path / "child.yaml", "base: base.yaml\ntrain:\n  epoch: 4\n")
    with pytest.raises(ConfigError, match=r"child.yaml: unknown key train.epoch \(did you mean "
                                          r"train.epochs\?\)"):
        load_config(child)
    _write(tmp_path / "bad_base.yaml", "model:\n  num_layer: 2\n")
    child2 = _write(tmp_path / "child2.yaml", "base: bad_base.yaml\n")
    with pytest.raises(ConfigError, match="bad_base.yaml: unknown key model.num_layer"):
        load_config(child2)
    with pytest.raises(ConfigError, match="--set: train.batch_size must be a whole number"):
        load_config(base, ["train.batch_size=3.5"])
    with pytest.raises(ConfigError, match="expected section.key=value"):
        load_config(base, ["epochs=3"])
    with pytest.raises(ConfigError, match="config file does not exist"):
        load_config(str(tmp_path / "none.yaml"))
    broken = _write(tmp_path / "broken.yaml", "train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    cycle = _write(tmp_path / "cycle.yaml", "base: cycle.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(cycle)


def test_set_overrides_and_round_trip(tmp_path):
    path = _write(tmp_path / "c.yaml", "model:\n  name: lotr_m\n")
    cfg = load_config(path, ["train.epochs=2", "model.num_layers=1", "loss.name=l1",
                             "data.augment.rotation=5"])
    assert cfg.train.epochs == 2 and cfg.model.options == {"num_layers": 1}
    assert cfg.loss.name == "l1" and cfg.loss.options == {}
    assert cfg.data.augment.rotation == 5.0
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_data_paths_are_checked(tmp_path):
    cfg = load_config(os.path.join(EXPERIMENTS, "lotr_m.yaml"))
    with pytest.raises(ConfigError, match="data.root is not set"):
        resolve_split(cfg.data, "train")
    cfg.data.root = str(tmp_path)
    with pytest.raises(ConfigError,
                       match=r"data.train: none of .*, .*train.rec, .*train.json exists"):
        resolve_split(cfg.data, "train")


def test_exponent_numbers_without_a_dot_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads "1e-3" as a string; YAML 1.2 and every user read it as 0.001.
    path = _write(tmp_path / "c.yaml", "train:\n  lr: 1e-3\n  wd: 5E-5\n")
    cfg = load_config(path, ["train.warmup_iters=10", "train.lr_factor=+2e-1"])
    assert cfg.train.lr == 0.001 and cfg.train.wd == 0.00005 and cfg.train.lr_factor == 0.2
    assert parse_overrides(["dropout=1e-1", "name=e5", "tag=1e"]) == {
        "dropout": 0.1, "name": "e5", "tag": "1e"}


@pytest.mark.parametrize("item, message", [
    ("train.optimizer=adamw", r"train.optimizer must be one of \[.*'adam', .*'lamb', .*\], "
                              r"got 'adamw'"),
    ("train.lr_schedule=poly", r"train.lr_schedule must be one of \['step', 'cosine'\], "
                               r"got 'poly'"),
    ("train.val_every=0", r"train.val_every must be at least 1, got 0"),
    ("data.format=jd", r"data.format must be one of \[.*'jd106', .*\], got 'jd'"),
    ("data.on_miss=drop", r"data.on_miss must be one of \['ground_truth', 'skip'\], "
                          r"got 'drop'"),
])
def test_each_section_is_checked_when_the_config_loads(item, message):
    """A value out of range stops the load (before any optimizer or dataset is built) with one
    line naming where it came from, the key and what it takes."""
    with pytest.raises(ConfigError, match="^--set: " + message) as info:
        load_config(os.path.join(EXPERIMENTS, "lotr_m.yaml"), [item])
    assert "\n" not in str(info.value)
