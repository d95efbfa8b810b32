"""The amortised predictor: aligned photo -> game parameters in one forward pass.

As in the published fast variant of face-to-parameter, a small head reads the frozen
extractor's features and regresses the parameter vector. `--mode fast` uses it alone;
`--mode full` starts the iterative search from its discrete choices (and, as configured,
from its continuous guess).
The head is trained on rig renders (parameters known) and, optionally, self-supervised on
real photos through the imitator (`facefit.train.predictor`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from facefit.errors import ModelError
from facefit.nets.weights import current_rig_id, load_state, load_weights, sha256_of

logger = logging.getLogger(__name__)

NETWORK = "predictor"


@dataclass(frozen=True)
class PredictorConfig:
    """Shape of the head; the vector layout comes from the rig the extractor serves."""

    continuous_size: int = 0
    discrete_sizes: tuple[int, ...] = ()
    width: int = 128  # channels of the two strided convs over the extractor's 1/8 features
    hidden: int = 512


CONFIGS: dict[str, PredictorConfig] = {
    "lite": PredictorConfig(),
    "tiny": PredictorConfig(width=8, hidden=32),
}
DEFAULT_CONFIG = "lite"


def config_from_dict(data: dict) -> PredictorConfig:
    data = dict(data)
    data["discrete_sizes"] = tuple(data["discrete_sizes"])
    return PredictorConfig(**data)


class PredictorHead(nn.Module):
    """Extractor features (1/8 resolution, two depths) -> parameter logits."""

    def __init__(self, cfg: PredictorConfig, feature_channels: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.reduce = nn.Sequential(
            nn.Conv2d(feature_channels, cfg.width, 3, 2, 1, bias=False),
            nn.BatchNorm2d(cfg.width),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.width, cfg.width, 3, 2, 1, bias=False),
            nn.BatchNorm2d(cfg.width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4),
        )
        out = cfg.continuous_size + sum(cfg.discrete_sizes)
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cfg.width * 16, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, out),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, D) raw outputs (continuous logits, then discrete logits)."""
        return self.mlp(self.reduce(features))  # (B, C, h, w) -> (B, width, 4, 4) -> (B, D)


class Predictor(nn.Module):
    """A frozen extractor and a trainable head: image (B, 3, S, S) -> parameter vector."""

    def __init__(self, extractor: nn.Module, cfg: PredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.extractor = extractor.requires_grad_(False)
        widths = extractor.cfg.widths
        self.head = PredictorHead(cfg, widths[1] + widths[3])

    def raw(self, image: torch.Tensor) -> torch.Tensor:
        """(B, D) unconstrained outputs, for the training losses."""
        return self.raw_from_features(self.extractor(image).features)

    def raw_from_features(self, features: list[torch.Tensor]) -> torch.Tensor:
        """(B, D) unconstrained outputs from the extractor's features of the image."""
        f2, f4 = features[1], features[3]  # both at 1/8 resolution
        return self.head(torch.cat([f2.detach(), f4.detach()], dim=1))

    def split(self, raw: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Raw outputs -> continuous values in [0, 1] (B, C) and per-group logits [(B, K)]."""
        c = self.cfg.continuous_size
        continuous = torch.sigmoid(raw[:, :c])
        logits = list(torch.split(raw[:, c:], list(self.cfg.discrete_sizes), dim=1))
        return continuous, logits

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, D) vector: continuous values and per-group probabilities."""
        return self.vector(self.raw(image))

    def from_features(self, features: list[torch.Tensor]) -> torch.Tensor:
        """As `forward`, from the extractor's features when the caller already has them."""
        return self.vector(self.raw_from_features(features))

    def vector(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw outputs -> (B, D) vector: continuous values and per-group probabilities."""
        continuous, logits = self.split(raw)
        return torch.cat([continuous, *[F.softmax(lg, dim=1) for lg in logits]], dim=1)

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the head: the extractor ships in its own weights file."""
        return self.head.state_dict()


def build_predictor(config: str | PredictorConfig, extractor: nn.Module, layout) -> Predictor:
    """A fresh predictor for a `ParamLayout` (continuous size and discrete slices)."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    sizes = tuple(stop - start for _, start, stop in layout.discrete_slices)
    cfg = PredictorConfig(
        **{**asdict(cfg), "continuous_size": layout.continuous_size, "discrete_sizes": sizes}
    )
    return Predictor(extractor, cfg)


def load_predictor(
    path: str | Path,
    extractor: nn.Module,
    device: str | torch.device = "cpu",
    extractor_path: str | Path | None = None,
) -> Predictor:
    """Build a predictor on a loaded extractor, load its head and call `.eval()`.

    With `extractor_path`, refuse a head that was trained on other extractor weights: its
    features would mean something else.
    """
    stored = load_weights(Path(path), network=NETWORK, expected_rig=current_rig_id())
    trained_on = stored.extra.get("extractor_sha256")
    if extractor_path is not None and trained_on and trained_on != sha256_of(Path(extractor_path)):
        raise ModelError(
            f"{Path(path).name} was trained on another extractor ({trained_on[:12]}…); "
            "retrain it with `facefit train predictor`"
        )
    model = Predictor(extractor, config_from_dict(stored.config))
    load_state(model.head, stored, path)
    return model.to(device).eval()
