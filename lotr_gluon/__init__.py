"""lotr_gluon: LOTR (Localization Transformer) facial landmark localization in MXNet/Gluon.

Watchareeruetai et al., "LOTR: Face Landmark Localization Using Localization Transformer",
IEEE Access, vol. 10, pp. 16530-16543, 2022 (arXiv 2109.10057).
"""
from ._version import __version__

# Importing the package changes nothing in the process: MXNet's threads and engine are set by
# lotr_gluon.runtime.configure_runtime, which the tools call first thing.

__all__ = ["__version__", "get_model", "list_models"]


def __getattr__(name: str):
    # get_model and list_models load MXNet; numpy-only modules (metrics, flip, data.align,
    # data.landmarks) import without it because this package does not load them eagerly.
    if name in ("get_model", "list_models"):
        from . import model_zoo

        return getattr(model_zoo, name)
    raise AttributeError(f"module 'lotr_gluon' has no attribute {name!r}")
