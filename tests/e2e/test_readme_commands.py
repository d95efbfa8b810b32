"""The README's commands work as written, by a newcomer whose PATH has no .venv/bin."""

from __future__ import annotations

import os
import re
import subprocess
import uuid

from bench.slow_clients import embedded_env
from tests.conftest import ROOT, migrate


def game_server_commands() -> list[str]:
    """The shell lines of the README's code block for game servers, comments removed."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*Game servers\*\*.*?```sh\n(.*?)```", readme, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line and line[0] != "#"]


def test_the_readme_token_command_prints_a_working_token(tmp_path, monkeypatch):
    command = game_server_commands()[0]
    env = embedded_env(tmp_path)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    for key in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):  # as from a shell, not inside `make test`
        env.pop(key, None)  # (a sub-make would print "Leaving directory" after the token)
    from db.urls import database_url

    migrate(database_url(None, tmp_path))
    name = f"readme-{uuid.uuid4().hex[:8]}"
    # `-o setup`: the suite runs set up already; a reinstall would change what it runs in.
    as_run = re.sub(r"^make ", "make -o setup ", command).replace("my-game-server", name)
    answer = subprocess.run(
        ["bash", "-c", as_run], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert answer.returncode == 0, answer.stderr
    token = answer.stdout.strip().splitlines()[-1]

    for key in ("FACEFIT_VAR_DIR", "DATABASE_URL", "BROKER_URL"):
        monkeypatch.setenv(key, env[key])
    from web import create_app

    client = create_app({"TESTING": True}).test_client()
    response = client.get(f"/jobs/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404, response.get_json()  # authenticated: no such job
