"""The container image holds what the web app serves: the editor's browser libraries, installed
from package-lock.json. Read from the Dockerfile, so that no Docker daemon is needed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from tests.conftest import ROOT
from web import vendor


@dataclass
class Stage:
    name: str | None  # FROM ... AS name
    instructions: list[str]  # continuation lines joined, comments left out


def dockerfile_stages() -> list[Stage]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[Stage] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            named = re.search(r"\s+AS\s+(\S+)$", line, re.IGNORECASE)
            stages.append(Stage(named.group(1) if named else None, []))
        stages[-1].instructions.append(line)
    return stages


def copies(stage: Stage) -> list[tuple[str, PurePosixPath]]:
    """Each COPY of the stage: (instruction, its destination as an absolute path)."""
    workdir, out = PurePosixPath("/"), []
    for instruction in stage.instructions:
        if instruction.startswith("WORKDIR "):
            workdir = workdir / instruction.split(maxsplit=1)[1]
        elif instruction.startswith("COPY "):
            out.append((instruction, workdir / instruction.split()[-1]))
    return out


def test_the_image_installs_the_locked_browser_libraries_before_the_app():
    stages = dockerfile_stages()
    # a build stage runs `npm ci` on the manifest and its lock file, without test-only packages
    (builder,) = [s for s in stages if any(" npm ci " in f" {i} " for i in s.instructions)]
    npm_ci = next(i for i in builder.instructions if "npm ci" in i)
    assert "--omit=dev" in npm_ci
    copied = [c for c, _ in copies(builder)][0]
    assert {"package.json", "package-lock.json"} <= set(copied.split()[1:-1])
    # the image copies its node_modules to the app's, where web/vendor.py reads, before the app
    final = stages[-1]
    assert builder.name and final is not builder
    app = [dest for c, dest in copies(final) if c == "COPY . ."]
    assert len(app) == 1
    taken = [
        (i, dest)
        for i, (c, dest) in enumerate(copies(final))
        if c.startswith(f"COPY --from={builder.name} ")
    ]
    assert len(taken) == 1
    index, destination = taken[0]
    assert (ROOT / "node_modules").resolve() == vendor.NODE_MODULES
    assert destination == app[0] / "node_modules"
    assert index < [c for c, _ in copies(final)].index("COPY . .")
    # a node_modules of the build context (a developer's, with test packages) stays out
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "node_modules" in ignored


def test_every_module_the_pages_load_comes_from_a_declared_runtime_package():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    # npm ci refuses a lock file that disagrees with the manifest
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    served = {prefix.split("/")[0] for prefix in vendor.SERVED}
    assert served <= set(package["dependencies"])  # installed by `npm ci --omit=dev`
    pages = "".join(p.read_text() for p in (ROOT / "web").glob("*/*.*") if p.suffix != ".css")
    loaded = re.findall(r"url_for\('portal\.vendor', path='([^']+)'\)", pages)
    assert loaded
    for path in loaded:
        assert path.startswith(vendor.SERVED), path
        assert (vendor.NODE_MODULES / path).is_file(), f"{path}: run `make setup`"
