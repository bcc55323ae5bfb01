"""Access to the paper's published numbers in ``experiments/paper_results.yaml``."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

import yaml

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "experiments", "paper_results.yaml")


def load_paper_results(path: Optional[str] = None) -> Dict[str, Any]:
    """The paper's tables as nested dicts (``table2``, ``table3``, ``table4``, ``figure3``)."""
    path = path or DEFAULT_PATH
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: it ships in the repository's experiments/ "
                                f"folder; run from a checkout of lotr_gluon")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)
