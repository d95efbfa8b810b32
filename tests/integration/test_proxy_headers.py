"""The client's address and scheme behind the edge (FACEFIT_PROXY_HOPS), and never from a
client's own X-Forwarded-* headers when no proxy is configured."""

from __future__ import annotations

import pytest
from flask import request

from web import create_app
from web.settings import SettingsError

SPOOFED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def app_with_hops(monkeypatch, tmp_path, hops: str | None):
    """The embedded app (SQLite, filesystem broker under tmp_path), with a page echoing the client."""
    monkeypatch.setenv("FACEFIT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("BROKER_URL", "")
    if hops is None:
        monkeypatch.delenv("FACEFIT_PROXY_HOPS", raising=False)
    else:
        monkeypatch.setenv("FACEFIT_PROXY_HOPS", hops)
    app = create_app({"TESTING": True})
    app.add_url_rule(
        "/client", "client", lambda: {"ip": request.remote_addr, "scheme": request.scheme}
    )
    return app.test_client()


def test_without_a_proxy_forwarded_headers_are_ignored(monkeypatch, tmp_path):
    client = app_with_hops(monkeypatch, tmp_path, None)
    seen = client.get("/client", headers=SPOOFED, environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert seen.get_json() == {"ip": "198.51.100.4", "scheme": "http"}


def test_behind_the_edge_the_address_and_scheme_are_the_ones_it_saw(monkeypatch, tmp_path):
    client = app_with_hops(monkeypatch, tmp_path, "1")
    # What nginx sends upstream: the client's own claims, then what nginx itself saw.
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.4", "X-Forwarded-Proto": "http, https"}
    seen = client.get("/client", headers=forwarded, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert seen.get_json() == {"ip": "198.51.100.4", "scheme": "https"}


@pytest.mark.parametrize("hops", ["-1", "one", "1.5"])
def test_a_wrong_proxy_hops_setting_refuses_to_start(monkeypatch, tmp_path, hops):
    with pytest.raises(SettingsError, match="FACEFIT_PROXY_HOPS"):
        app_with_hops(monkeypatch, tmp_path, hops)
