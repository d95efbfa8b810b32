"""What an operator relies on: the mode is what they typed, production refuses the embedded
defaults and sends HSTS, var/ is private, token names are safe and tokens rotate."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import ApiClient
from tests.conftest import ROOT, faceless_photo, service_env

PRODUCTION = {
    "FACEFIT_ENV": "production",
    "SECRET_KEY": "k" * 64,
    "DATABASE_URL": "postgresql://facefit@db/facefit",
    "BROKER_URL": "redis://redis:6379/0",
}


def web_settings(env):
    from web.settings import WebSettings

    return WebSettings.from_env(env)


def worker_settings(env):
    from worker.settings import WorkerSettings

    return WorkerSettings.from_env(env)


# --- the mode ------------------------------------------------------------------------------


@pytest.mark.parametrize("read", [web_settings, worker_settings], ids=["web", "worker"])
@pytest.mark.parametrize("mode", ["Production", "PRODUCTION", "prod", " production", "dev", ""])
def test_a_mode_that_is_not_exactly_development_or_production_refuses_to_start(
    tmp_path, read, mode
):
    from db.deployment import SettingsError

    with pytest.raises(SettingsError, match="exactly 'development' or 'production'"):
        read({**PRODUCTION, "FACEFIT_ENV": mode, "FACEFIT_VAR_DIR": str(tmp_path)})


@pytest.mark.parametrize("read", [web_settings, worker_settings], ids=["web", "worker"])
@pytest.mark.parametrize(
    ("setting", "value", "refusal"),
    [
        ("DATABASE_URL", "sqlite:////srv/facefit.sqlite3", "production refuses SQLite"),
        ("DATABASE_URL", "not a url", "DATABASE_URL is not a postgresql:// URL"),
        ("BROKER_URL", "filesystem://localhost/", "production refuses the filesystem broker"),
        ("BROKER_URL", "", "BROKER_URL not set"),
    ],
    ids=["sqlite", "garbage-url", "filesystem-broker", "no-broker"],
)
def test_production_refuses_the_embedded_defaults(tmp_path, read, setting, value, refusal):
    from db.deployment import SettingsError

    env = {**PRODUCTION, setting: value, "FACEFIT_VAR_DIR": str(tmp_path)}
    with pytest.raises(SettingsError, match=refusal):
        read(env)
    assert read({**PRODUCTION, "FACEFIT_VAR_DIR": str(tmp_path)}).env == "production"


def test_production_sends_hsts_on_every_response(pg_service, monkeypatch):
    monkeypatch.setenv("FACEFIT_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    client = pg_service.create_app().test_client()
    answers = {
        "healthz": client.get("/healthz"),
        "portal page": client.get("/"),
        "unauthorized": client.get(f"/jobs/{uuid.uuid4()}"),
        "unknown route": client.get("/nowhere"),
        "method not allowed": client.delete("/jobs"),
        "not found page": client.get(f"/j/{uuid.uuid4()}", headers={"Accept": "text/html"}),
    }
    for what, response in answers.items():
        hsts = response.headers.get("Strict-Transport-Security", "")
        assert hsts.startswith("max-age=") and int(hsts[8:].split(";")[0]) >= 31536000, what
        assert "includeSubDomains" in hsts, what
    monkeypatch.setenv("FACEFIT_ENV", "development")
    development = pg_service.create_app().test_client().get("/healthz")
    assert "Strict-Transport-Security" not in development.headers  # plain http://127.0.0.1


# --- var/ ----------------------------------------------------------------------------------


def _loose_modes(var_dir: Path) -> list[str]:
    """Everything under var_dir that another user could read or enter."""
    loose = []
    for path in [var_dir, *var_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(var_dir.parent)} {mode:o}")
    return loose


def test_var_and_every_file_in_it_are_private_to_the_service_user(tmp_path, monkeypatch):
    """As `make run` on the embedded defaults: migrate, then the web writes its files."""
    var_dir = tmp_path / "var"
    var_dir.mkdir(mode=0o755)
    var_dir.chmod(0o755)
    (var_dir / "left-by-an-older-version.log").write_text("x")
    (var_dir / "left-by-an-older-version.log").chmod(0o644)
    env = service_env("", "", var_dir, "test-unconsumed") | {"BROKER_URL": ""}
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, check=True,
        capture_output=True, preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip
    assert (var_dir / "facefit.sqlite3").stat().st_size > 0
    assert _loose_modes(var_dir) == []

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FACEFIT_JOBS_PER_MINUTE_PER_CLIENT", "100")
    from web import create_app

    app = create_app({"TESTING": True})
    with app.app_context():
        from db.clients import create_client
        from web.db import get_session

        _client, token = create_client(get_session(), "game")
        get_session().commit()
    response = app.test_client().post(
        "/jobs",
        headers={"Authorization": f"Bearer {token}"},
        data={"photo": (__import__("io").BytesIO(faceless_photo()), "p.png")},
    )
    assert response.status_code == 202
    written = {p.name for p in var_dir.rglob("*")}
    assert {"secret_key", "facefit.sqlite3", "rate-limits.sqlite3", "broker"} <= written
    assert any((var_dir / "broker" / "queue").iterdir())  # the task message
    assert _loose_modes(var_dir) == []


# --- tokens --------------------------------------------------------------------------------


def _cli(pg_service, *args: str):
    """`flask --app web token ARGS` in a web process of its own (as an operator's shell)."""
    return pg_service.create_app().test_cli_runner().invoke(args=["token", *args])


@pytest.mark.parametrize(
    "name",
    ["game\tactive\t2020-01-01 00:00", "game\nforged", "-rf", "", "a b", "x" * 65, "naïve",
     "game\x1b[2J"],
    ids=["tab", "newline", "option-like", "empty", "space", "too-long", "non-ascii", "escape"],
)  # fmt: skip
def test_token_names_that_could_forge_a_row_are_refused(pg_service, name):
    result = _cli(pg_service, "create", "--", name)
    assert result.exit_code != 0 and "client name" in result.output, result.output
    with pg_service.sessions()() as session:
        assert session.scalar(select(ApiClient).where(ApiClient.name == name)) is None


def test_token_list_shows_one_row_per_client(pg_service):
    """Even for a name stored before names were checked: escaped, on one line."""
    good = f"game-{uuid.uuid4().hex[:6]}.eu_1"
    assert _cli(pg_service, "create", good).exit_code == 0
    forged = f"old-{uuid.uuid4().hex[:6]}\tactive\n"
    with pg_service.sessions().begin() as session:
        session.add(ApiClient(name=forged, token_hash=uuid.uuid4().hex * 2))
    rows = _cli(pg_service, "list").stdout.splitlines()
    assert all(row.count("\t") == 2 for row in rows), rows
    assert any(row.startswith(f"{good}\tactive\t") for row in rows)
    assert any(row.startswith(repr(forged)) for row in rows)


def test_token_rotate_gives_a_new_token_and_the_old_one_stops_at_once(pg_service):
    name = f"game-{uuid.uuid4().hex[:6]}"
    old = pg_service.create_token(name)
    serving = pg_service.create_app()
    client = serving.test_client()
    path = f"/jobs/{uuid.uuid4()}"
    assert client.get(path, headers={"Authorization": f"Bearer {old}"}).status_code == 404
    rotated = _cli(pg_service, "rotate", name)
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip().splitlines()[-1]
    assert new.startswith("ff_") and new != old
    # The serving process had the old token cached: the announced epoch ends that too.
    assert client.get(path, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Bearer {new}"}).status_code == 404
    assert _cli(pg_service, "rotate", "no-such-client").exit_code != 0
    assert _cli(pg_service, "revoke", name).exit_code == 0
    assert _cli(pg_service, "rotate", name).exit_code != 0  # a revoked client stays revoked
