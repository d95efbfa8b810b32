"""The one logging configuration point of a process (CLI, web, worker call it at start-up)."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send records of every module's `getLogger(__name__)` to stderr at `level`."""
    logging.basicConfig(level=level.upper(), format=_FORMAT, force=True)
