"""Rewrite `facefit/rig/reference.json` from the renderer (after any change to the rest face).

Usage: .venv/bin/python tools/build_rig_reference.py
"""

from __future__ import annotations

import logging

from facefit.logs import configure_logging
from facefit.rig.reference import REFERENCE_PATH, compute_reference, write_reference

log = logging.getLogger("build_rig_reference")


def main() -> None:
    configure_logging("INFO")
    doc = compute_reference()
    write_reference(doc)
    log.info("wrote %s for %s", REFERENCE_PATH, doc["rig"])


if __name__ == "__main__":
    main()
