"""lotr_gluon: LOTR (Localization Transformer) facial landmark localization in MXNet/Gluon.

Watchareeruetai et al., "LOTR: Face Landmark Localization Using Localization Transformer",
Pattern Recognition Letters 2022.
"""
import os

# MXNet's CPU engine runs a single OpenMP thread unless told otherwise; this must happen before
# mxnet is imported. A value the user already set wins.
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

from ._version import __version__  # noqa: E402
from .model_zoo import get_model, list_models  # noqa: E402

__all__ = ["__version__", "get_model", "list_models"]
