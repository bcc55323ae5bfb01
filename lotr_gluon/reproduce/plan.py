"""Which runs each of the paper's tables needs, under a budget, and where they live.

A suite is a list of cells (table, row, column) and the experiment YAML whose run fills each.
A run is identified by its experiment file and budget, so a run shared by several tables
(LOTR-M with smooth-Wing and 2 layers is in Tables 2, 3, 4 and Figure 3) trains once.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..config import Config, load_config, parse_yaml
from ..errors import UserError
from ..model_zoo import models_of
from ..paper_results import DEFAULT_PATH as PAPER_RESULTS

EXPERIMENTS = os.path.dirname(PAPER_RESULTS)
SUITES = ("table2", "table3", "table4", "layers")
BUDGETS = ("full", "mini")
LOTR_MODELS = models_of("lotr")
BASELINES = models_of("heatmap") + models_of("cnn_ffn")  # Table 3's rows above LOTR's
LOSSES = ("l2", "l1", "smooth_l1", "wing", "smooth_wing")
LAYERS = (1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class Cell:
    """One number of the paper: ``table`` (a key of paper_results.yaml), row and column."""

    table: str
    row: str
    column: str


@dataclass(frozen=True)
class Budget:
    """``experiments/budgets/NAME.yaml``: the models that run (its own key ``models``, ``all``
    or a list), and config sections written as an experiment file's are, merged over every
    experiment file by the same rule."""

    path: str
    models: Tuple[str, ...]
    sections: Dict[str, Any]

    @property
    def layer(self) -> Tuple[str, Dict[str, Any]]:
        """The sections as a :func:`..config.load_config` layer."""
        return self.path, self.sections


@dataclass
class PlannedRun:
    name: str  # the experiment's file stem, e.g. lotr_m_l1
    config_path: str
    overrides: List[str]
    run_dir: str
    cells: List[Cell] = field(default_factory=list)
    layers: List[Tuple[str, Dict[str, Any]]] = field(default_factory=list)  # the budget's

    def load(self) -> Config:
        return load_config(self.config_path, self.overrides, self.layers)


def experiment_file(suite_table: str, model: str, column: str) -> str:
    """The YAML that produces ``model``'s number in ``column`` of a table."""
    if suite_table == "table4" and column != "smooth_wing":
        return os.path.join(EXPERIMENTS, "losses", f"{model}_{column}.yaml")
    if suite_table == "figure3" and int(column) != 2:  # 2 layers is the base experiment
        return os.path.join(EXPERIMENTS, "layers", f"{model}_L{column}.yaml")
    return os.path.join(EXPERIMENTS, f"{model}.yaml")


def suite_cells(suite: str, models: Sequence[str]) -> List[Tuple[Cell, str]]:
    """``(cell, experiment file)`` for every cell of ``suite`` whose model is in ``models``."""
    cells: List[Tuple[Cell, str]] = []
    if suite == "table2":
        for model in LOTR_MODELS:
            for column in ("auc", "failure_rate", "nme"):
                cells.append((Cell("table2", model, column), experiment_file("", model, "")))
    elif suite == "table3":
        for model in BASELINES + LOTR_MODELS:
            for column in ("auc", "params_m", "size_mb", "cpu_ms"):
                cells.append((Cell("table3", model, column), experiment_file("", model, "")))
    elif suite == "table4":
        for model in LOTR_MODELS:
            for loss in LOSSES:
                cells.append((Cell("table4", model, loss),
                              experiment_file("table4", model, loss)))
    elif suite == "layers":
        for model in LOTR_MODELS:
            for layers in LAYERS:
                cells.append((Cell("figure3", model, str(layers)),
                              experiment_file("figure3", model, str(layers))))
    else:
        raise UserError(f"unknown suite {suite!r}; expected one of {SUITES} or 'all'")
    return [(cell, path) for cell, path in cells if cell.row in models]


def load_budget(budget: str) -> Budget:
    """``experiments/budgets/BUDGET.yaml``: which models run, and the config sections."""
    if budget not in BUDGETS:
        raise UserError(f"unknown budget {budget!r}; expected one of {BUDGETS}")
    path = os.path.join(EXPERIMENTS, "budgets", f"{budget}.yaml")
    with open(path, encoding="utf-8") as f:
        sections = parse_yaml(f) or {}
    models = sections.pop("models", "all")
    models = BASELINES + LOTR_MODELS if models == "all" else tuple(models)
    unknown = sorted(set(models) - set(BASELINES + LOTR_MODELS))
    if unknown:
        raise UserError(f"{path}: models {unknown} are not among the paper's "
                        f"{list(BASELINES + LOTR_MODELS)}")
    return Budget(path, models, sections)


def make_plan(suites: Sequence[str], data_root: str, out_dir: str, budget: str = "full",
              backbone_weights: Optional[str] = None) -> List[PlannedRun]:
    """The runs ``suites`` need, each once, in a stable order.

    ``backbone_weights`` (``imagenet``, ``none`` or a path) overrides every run's
    ``model.backbone_weights``, the budget's included; None keeps what the files and the
    budget say (the full budget: ImageNet; mini: none).
    """
    spec = load_budget(budget)
    overrides = [f"data.root={json.dumps(os.path.abspath(data_root))}"]
    if backbone_weights is not None:
        overrides.append(f"model.backbone_weights={json.dumps(backbone_weights)}")
    runs: Dict[str, PlannedRun] = {}
    for suite in suites:
        for cell, path in suite_cells(suite, spec.models):
            name = os.path.splitext(os.path.basename(path))[0]
            if name not in runs:
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"{path}: experiment file missing from the checkout")
                runs[name] = PlannedRun(name, path, overrides,
                                        os.path.join(out_dir, budget, name),
                                        layers=[spec.layer])
            runs[name].cells.append(cell)
    return list(runs.values())
