"""Settings of the core library and the `facefit` CLI, read from the environment first."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEVICE_CHOICES = ("auto", "cpu", "cuda")
# Each rig's networks and calibration live in their own folder (`FACEFIT_RIG` picks the rig).
RIG_WEIGHTS = {"reference": PROJECT_ROOT / "weights", "human": PROJECT_ROOT / "weights" / "human"}


@dataclass(frozen=True)
class CoreSettings:
    """What any process using `facefit` needs: where weights live, which device, log level."""

    device: str = "auto"
    weights_dir: Path = RIG_WEIGHTS["reference"]
    var_dir: Path = PROJECT_ROOT / "var"
    log_level: str = "INFO"
    # Threads of each process's torch pool; None keeps torch's default (all cores). Several
    # fitting processes on one machine must share the cores: oversubscribed thread pools
    # made a fit about 8x slower on two cores.
    torch_threads: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CoreSettings:
        from facefit.rig import choice

        env = os.environ if env is None else env
        device = env.get("FACEFIT_DEVICE", cls.device).lower()
        if device not in DEVICE_CHOICES:
            raise ValueError(f"FACEFIT_DEVICE must be one of {DEVICE_CHOICES}, got {device!r}")
        rig = choice.rig_name(env.get(choice.ENV) or choice.DEFAULT)
        return cls(
            device=device,
            weights_dir=Path(env.get("FACEFIT_WEIGHTS_DIR") or RIG_WEIGHTS[rig]),
            var_dir=Path(env.get("FACEFIT_VAR_DIR", cls.var_dir)),
            log_level=env.get("FACEFIT_LOG_LEVEL", cls.log_level).upper(),
            torch_threads=int(env["FACEFIT_TORCH_THREADS"])
            if env.get("FACEFIT_TORCH_THREADS")
            else None,
        )


def keep_private(var_dir: Path) -> Path:
    """Make `var_dir` and everything in it readable by this user only; new files likewise.

    var/ holds players' photos (the SQLite database), the secret key and the broker's
    messages: mode 0700 for folders and 0600 for files, whatever the caller's umask. The
    process's umask becomes 077 so that files created later (SQLite's journal, the broker's
    messages, task results) are private too; files left readable by an older version are
    closed here. Called where each process starts (web, worker, migrations).
    """
    os.umask(0o077)
    var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder, _subfolders, files in os.walk(var_dir):
        _restrict(Path(folder), 0o700)
        for name in files:
            _restrict(Path(folder) / name, 0o600)
    return var_dir


def _restrict(path: Path, mode: int) -> None:
    try:
        status = path.lstat()
        if status.st_uid == os.getuid() and not path.is_symlink() and status.st_mode & 0o077:
            path.chmod(mode)
    except FileNotFoundError:  # removed meanwhile (a broker message consumed)
        pass
