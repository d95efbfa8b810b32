"""Photo -> game-face parameters (patent claims 1-2): align, extract, search, judge."""

from facefit.fit.config import FitConfig
from facefit.fit.params import ParamLayout, ParamState

__all__ = ["FitConfig", "ParamLayout", "ParamState"]
