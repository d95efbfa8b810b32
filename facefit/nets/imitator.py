"""The imitator g(x): face parameters -> the game client's render, differentiable.

A generator of transposed convolutions (patent CN109636886A §0075-0077) maps the parameter
vector (continuous values + one-hot discrete blocks, in the layout of the shards it was
trained on) to an RGB image in the aligned reference framing, plus a small MLP head that
predicts the render's 68 landmarks for the fitter's geometric loss.

Two configs share this code: `paper` (512 px, 8 transposed-conv layers 512-512-512-256-128-
64-64-3 with BN+ReLU, as published) for a GPU, and `lite` (128 px) that trains within an
hour on two CPU cores. Both can add the mean render as a skip: the network then predicts
the residual over the average face, which spends its capacity on what differs between faces.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from facefit.errors import ModelError
from facefit.nets.weights import current_rig_id, load_state, load_weights

logger = logging.getLogger(__name__)

NETWORK = "imitator"
N_LANDMARKS = 68


@dataclass(frozen=True)
class ImitatorConfig:
    """Shape of an imitator; `vector_size` comes from the training shards' `meta.json`."""

    vector_size: int = 0
    size: int = 128  # output side in pixels; a power of two >= 8
    # Output channels of each layer: the first maps the 1x1 input to 4x4, every next one
    # doubles the side, the last is the RGB output (so len(channels) = log2(size/4) + 1).
    channels: tuple[int, ...] = (256, 256, 128, 64, 32, 3)
    kernel: int = 4  # transposed-conv kernel of the doubling layers (stride 2)
    mean_skip: bool = True  # predict a residual over the mean render
    landmark_hidden: int = 256
    landmark_layers: int = 3

    def __post_init__(self) -> None:
        doublings = int(round(math.log2(self.size / 4)))
        if 4 * 2**doublings != self.size or len(self.channels) != doublings + 1:
            raise ValueError(
                f"size {self.size} needs {doublings + 1} channel entries, got {len(self.channels)}"
            )
        if self.channels[-1] != 3:
            raise ValueError("the last layer must output 3 (RGB) channels")


CONFIGS: dict[str, ImitatorConfig] = {
    # The published F2P imitator: 512 px, 8 transposed-conv layers.
    "paper": ImitatorConfig(
        size=512, channels=(512, 512, 512, 256, 128, 64, 64, 3), mean_skip=False
    ),
    # Two-core CPU budget: 128 px with a mean-face skip.
    "lite": ImitatorConfig(size=128, channels=(256, 256, 128, 64, 32, 3)),
    # Smallest config for tests: builds and trains in a second.
    "tiny": ImitatorConfig(size=16, channels=(16, 8, 3), landmark_hidden=32),
}
DEFAULT_CONFIG = "lite"


def config_from_dict(data: dict) -> ImitatorConfig:
    """Inverse of `asdict` for a stored config (tuples come back as lists)."""
    data = dict(data)
    data["channels"] = tuple(data["channels"])
    return ImitatorConfig(**data)


class UpBlock(nn.Module):
    """Transposed conv doubling the side, then BN+ReLU (no BN/ReLU on the output layer)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, last: bool) -> None:
        super().__init__()
        pad = (kernel - 2) // 2
        self.conv = nn.ConvTranspose2d(c_in, c_out, kernel, stride=2, padding=pad, bias=last)
        self.norm = nn.Identity() if last else nn.BatchNorm2d(c_out)
        self.act = nn.Identity() if last else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))  # (B, c_in, H, W) -> (B, c_out, 2H, 2W)


class Generator(nn.Module):
    """Parameter vector -> RGB image in [0, 1] (before clamping)."""

    def __init__(self, cfg: ImitatorConfig) -> None:
        super().__init__()
        c0 = cfg.channels[0]
        # Layer 1 of the published net: a 4x4 transposed conv on the 1x1 input.
        self.stem = nn.Sequential(
            nn.ConvTranspose2d(cfg.vector_size, c0, 4, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(c0),
            nn.ReLU(inplace=True),
        )
        pairs = list(zip(cfg.channels[:-1], cfg.channels[1:], strict=True))
        self.blocks = nn.Sequential(
            *[UpBlock(a, b, cfg.kernel, last=i == len(pairs) - 1) for i, (a, b) in enumerate(pairs)]
        )
        self.mean_skip = cfg.mean_skip
        if cfg.mean_skip:
            # Start as the mean face: a random residual would first have to be unlearnt.
            nn.init.zeros_(self.blocks[-1].conv.weight)
            nn.init.zeros_(self.blocks[-1].conv.bias)
        # Mean render of the training set; stays 0.5 grey until `set_means` is called.
        self.register_buffer("mean_image", torch.full((3, cfg.size, cfg.size), 0.5))

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        x = self.stem(params[:, :, None, None])  # (B, D, 1, 1) -> (B, C0, 4, 4)
        x = self.blocks(x)  # (B, C0, 4, 4) -> (B, 3, S, S)
        if self.mean_skip:
            return self.mean_image + x
        return torch.sigmoid(x)


class LandmarkHead(nn.Module):
    """Parameter vector -> 68 landmarks in [0, 1] image coordinates (residual over the mean)."""

    def __init__(self, cfg: ImitatorConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = cfg.vector_size
        for _ in range(cfg.landmark_layers - 1):
            layers += [nn.Linear(width, cfg.landmark_hidden), nn.SiLU()]
            width = cfg.landmark_hidden
        layers.append(nn.Linear(width, N_LANDMARKS * 2))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("mean_landmarks", torch.full((N_LANDMARKS, 2), 0.5))

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        offset = self.mlp(params).view(-1, N_LANDMARKS, 2)  # (B, D) -> (B, 68, 2)
        return self.mean_landmarks + offset


class Imitator(nn.Module):
    """g(x): the render and the landmarks the game client would produce for `params`."""

    def __init__(self, cfg: ImitatorConfig) -> None:
        super().__init__()
        if cfg.vector_size <= 0:
            raise ValueError("ImitatorConfig.vector_size must be set from the shards' meta.json")
        self.cfg = cfg
        self.generator = Generator(cfg)
        self.landmarks = LandmarkHead(cfg)

    def forward(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """params (B, D) -> image (B, 3, S, S) about [0, 1], landmarks (B, 68, 2) in [0, 1]."""
        return self.generator(params), self.landmarks(params)

    def render(self, params: torch.Tensor) -> torch.Tensor:
        """Image only, clamped to [0, 1] for display (the fitter uses `forward`)."""
        return self.generator(params).clamp(0.0, 1.0)

    @torch.no_grad()
    def set_means(self, mean_image: torch.Tensor, mean_landmarks: torch.Tensor) -> None:
        """Store the training set's mean render (3, S, S) and landmarks (68, 2)."""
        self.generator.mean_image.copy_(mean_image)
        self.landmarks.mean_landmarks.copy_(mean_landmarks)


def build_imitator(config: str | ImitatorConfig, vector_size: int) -> Imitator:
    """A fresh imitator of a named config (or an explicit one) for `vector_size` parameters."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    cfg = ImitatorConfig(**{**asdict(cfg), "vector_size": vector_size})
    return Imitator(cfg)


@dataclass(frozen=True)
class LoadedImitator:
    """A ready imitator with what it was trained for."""

    model: Imitator
    config_name: str
    rig: str
    layout: dict = field(default_factory=dict)


def load_imitator(
    path: str | Path, device: str | torch.device = "cpu", rig: str | None = "current"
) -> Imitator:
    """Construct an imitator from a weights file, check it, load it and call `.eval()`.

    `rig="current"` checks the file against the installed rig's id; pass another rig id
    (an imported game client's) or `None` to skip the check.
    """
    return load_imitator_with_info(path, device, rig).model


def load_imitator_with_info(
    path: str | Path, device: str | torch.device = "cpu", rig: str | None = "current"
) -> LoadedImitator:
    """`load_imitator` that also returns the config name, rig id and parameter layout."""
    expected = current_rig_id() if rig == "current" else rig
    stored = load_weights(Path(path), network=NETWORK, expected_rig=expected)
    try:
        cfg = config_from_dict(stored.config)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{Path(path).name} has an unknown imitator config: {exc}") from exc
    model = Imitator(cfg)
    load_state(model, stored, path)
    model.to(device).eval()
    logger.info(
        "loaded imitator %s (%s) for rig %s", Path(path).name, stored.config_name, stored.rig
    )
    return LoadedImitator(model, stored.config_name, stored.rig, stored.layout)
