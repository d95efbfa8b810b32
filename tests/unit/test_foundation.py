"""The core library's contract: env-first settings, device choice, CLI errors, purity."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from facefit.cli import main
from facefit.device import resolve_device
from facefit.errors import IntakeError
from facefit.settings import CoreSettings


def test_settings_read_environment_first(tmp_path):
    settings = CoreSettings.from_env(
        {
            "FACEFIT_DEVICE": "CPU",
            "FACEFIT_WEIGHTS_DIR": str(tmp_path),
            "FACEFIT_LOG_LEVEL": "debug",
        }
    )
    assert settings.device == "cpu"
    assert settings.weights_dir == tmp_path
    assert settings.log_level == "DEBUG"


def test_settings_default_without_environment():
    settings = CoreSettings.from_env({})
    assert settings.device == "auto"
    assert settings.weights_dir.name == "weights"


def test_settings_reject_unknown_device():
    with pytest.raises(ValueError, match="FACEFIT_DEVICE"):
        CoreSettings.from_env({"FACEFIT_DEVICE": "tpu"})


def test_resolve_device_auto_and_cpu():
    import torch

    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            resolve_device("cuda")


def test_error_carries_stable_code():
    err = IntakeError("no face in the photo", code="NO_FACE")
    assert err.to_dict() == {"code": "NO_FACE", "message": "no face in the photo"}


def test_cli_info_prints_json(capsys):
    assert main(["info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["device"] in ("cpu", "cuda")
    assert info["torch"].startswith("2.13")


def test_core_never_imports_service_frameworks():
    """`facefit` must run without Flask, Celery or SQLAlchemy: import every module and check."""
    code = (
        "import importlib, pkgutil, sys, facefit\n"
        "for m in pkgutil.walk_packages(facefit.__path__, 'facefit.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "bad = [n for n in ('flask', 'celery', 'sqlalchemy') if n in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
