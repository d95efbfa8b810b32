"""The `facefit` command line: one sub-command module per area, registered below.

Each module in `COMMAND_MODULES` defines `register(subparsers)` and adds its parsers with a
`func(args) -> int` default. Modules import their heavy dependencies inside the command
functions so that `facefit --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from facefit.errors import FacefitError
from facefit.logs import configure_logging
from facefit.settings import CoreSettings

# Order here is the order in `facefit --help`.
COMMAND_MODULES = [
    "facefit.cli.info",
    "facefit.cli.align",
    "facefit.cli.train",
    "facefit.cli.evaluate",
    "facefit.cli.rig",
    "facefit.cli.parse",
    "facefit.cli.fit",
    "facefit.cli.calibrate",
]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facefit", description="Face photo to game-character face parameters."
    )
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default: env)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; user errors print `{"error": {"code", "message"}}` on stdout and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = CoreSettings.from_env()
    configure_logging(args.log_level or settings.log_level)
    try:
        return int(args.func(args) or 0)
    except FacefitError as exc:
        print(json.dumps({"error": exc.to_dict()}))
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
