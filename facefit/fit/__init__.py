"""Photo -> game-face parameters (patent claims 1-2): start, search, post-search steps.

`fitter.py` composes the stages; this package imports no torch until a stage is imported,
so the worker can read `FitConfig` before it forks.
"""

from facefit.fit.config import FitConfig

__all__ = ["FitConfig"]
