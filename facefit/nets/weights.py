"""Shipped network weights: one torch file per network and config, listed in a manifest.

`weights/<network>-<config>.pt` holds the fp16 state dict, the config dataclass as a dict,
the rig id and the parameter-vector layout the network was trained for. `weights/manifest.json`
lists every file with its sha256 and how it was made (data, samples, time, metrics), so a
loader can refuse a file that was changed, truncated or trained for another rig.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facefit.errors import ModelError

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class WeightsFile:
    """What a weights file holds once its hash and rig are checked."""

    network: str
    config_name: str
    config: dict[str, Any]
    rig: str
    layout: dict[str, Any]
    state_dict: dict[str, Any]
    extra: dict[str, Any]


def sha256_of(path: Path) -> str:
    """Hash of a file's bytes, streamed so large files do not sit in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_name(network: str, config_name: str) -> str:
    """File name of a network's weights: `imitator-lite.pt`."""
    return f"{network}-{config_name}.pt"


def read_manifest(weights_dir: Path) -> dict[str, Any]:
    """The manifest of a weights folder; an absent file reads as an empty manifest."""
    path = Path(weights_dir) / MANIFEST_NAME
    if not path.exists():
        return {"weights": {}}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from exc
    manifest.setdefault("weights", {})
    return manifest


def save_weights(
    path: Path,
    *,
    network: str,
    config_name: str,
    config: Mapping[str, Any],
    rig: str,
    layout: Mapping[str, Any],
    state_dict: Mapping[str, Any],
    provenance: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write fp16 weights and their manifest entry; returns the entry.

    `provenance` is stored as is in the manifest entry (training samples, seconds, data
    source, validation metrics); keys it shares with the computed fields are overwritten.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    half = {
        key: value.detach().to("cpu", torch.float16)
        if torch.is_floating_point(value)
        else value.detach().cpu()
        for key, value in state_dict.items()
    }
    payload = {
        "format": FORMAT_VERSION,
        "network": network,
        "config_name": config_name,
        "config": dict(config),
        "rig": rig,
        "layout": dict(layout),
        "state_dict": half,
        "extra": dict(extra or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    entry = {
        **dict(provenance),
        "sha256": sha256_of(path),
        "bytes": path.stat().st_size,
        "network": network,
        "config_name": config_name,
        "config": dict(config),
        "rig": rig,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    manifest_path = path.parent / MANIFEST_NAME
    # Trainers run side by side into one folder: the read, the change and the write of the
    # manifest happen under a lock, so that neither entry is lost.
    with open(path.parent / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = read_manifest(path.parent)
        manifest["weights"][path.name] = entry
        tmp = manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.replace(manifest_path)
    logger.info("wrote %s (%d bytes, sha256 %s)", path, entry["bytes"], entry["sha256"][:12])
    return entry


def load_weights(path: Path, *, network: str, expected_rig: str | None) -> WeightsFile:
    """Read a weights file after checking it against the manifest beside it and the rig.

    Raises `ModelError` when the file is missing, not in the manifest, changed since it was
    listed, made for another network, or trained for a rig other than `expected_rig`
    (`None` skips the rig check, for tools that inspect weights of any rig).
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise ModelError(f"weights file {path} does not exist; train it with `facefit train`")
    entry = read_manifest(path.parent)["weights"].get(path.name)
    if entry is None:
        raise ModelError(f"{path.name} is not listed in {path.parent / MANIFEST_NAME}")
    actual = sha256_of(path)
    if actual != entry.get("sha256"):
        raise ModelError(
            f"{path.name} does not match its manifest entry (sha256 {actual[:12]}… on disk, "
            f"{str(entry.get('sha256'))[:12]}… listed): the file was changed or truncated"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a corrupt file
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if payload.get("network") != network:
        raise ModelError(f"{path.name} holds a {payload.get('network')!r} network, not {network!r}")
    if expected_rig is not None and payload["rig"] != expected_rig:
        raise ModelError(
            f"{path.name} was trained for rig {payload['rig']!r} but the current rig is "
            f"{expected_rig!r}; retrain it on shards of the current rig"
        )
    return WeightsFile(
        network=payload["network"],
        config_name=payload["config_name"],
        config=payload["config"],
        rig=payload["rig"],
        layout=payload["layout"],
        state_dict=payload["state_dict"],
        extra=payload.get("extra", {}),
    )


def load_state(module: Any, stored: WeightsFile, path: Path) -> None:
    """Load fp16-stored weights into `module` in full precision; ModelError if they do not fit."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in stored.state_dict.items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{Path(path).name} does not fit its config: {exc}") from exc


def current_rig_id() -> str:
    """Id of the rig this installation renders with, for the loaders' default check."""
    try:
        from facefit.rig.spec import load_spec
    except ImportError as exc:
        raise ModelError(
            "no rig spec is installed to check weights against; pass the rig id explicitly"
        ) from exc
    return load_spec().rig_id
