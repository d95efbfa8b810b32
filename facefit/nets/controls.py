"""The controls reader: an aligned face's pixels -> the rig's continuous controls.

The predictor reads the extractor's features, a face parse that is by design blind to
colour and to shading: on rig renders it reads the controls to 0.15, and an ideal observer
of a perfect parse does no better than 0.05, while one of the pixels reads them to 0.01
(docs/decisions.md). This small residual CNN
reads the aligned face itself, at the imitator's 128 px, and regresses every continuous
control in [0, 1]. It is trained on rig renders only (`facefit.train.controls`), half of
them made to look like photos, so what it knows of photos is what that jitter taught it:
the fit blends its reading with the predictor's (`facefit.fit.ownership.BlendRules`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from facefit.nets.weights import current_rig_id, load_state, load_weights

NETWORK = "controls"


@dataclass(frozen=True)
class ControlsConfig:
    """Shape of a reader; `controls` (how many it reads) is set from the rig at training."""

    size: int = 128  # the aligned face is read at this side (area-averaged down to it)
    widths: tuple[int, ...] = (32, 64, 96, 128)  # one strided stage each, then a residual
    squeeze: int = 32  # channels kept at the last stage before the flattened map
    hidden: int = 512
    controls: int = 0


CONFIGS: dict[str, ControlsConfig] = {
    "lite": ControlsConfig(),
    "tiny": ControlsConfig(size=32, widths=(4, 8), squeeze=4, hidden=16),
}
DEFAULT_CONFIG = "lite"


def config_from_dict(data: dict) -> ControlsConfig:
    data = dict(data)
    data["widths"] = tuple(data["widths"])
    return ControlsConfig(**data)


def _conv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)
    )


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 1),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class ControlsReader(nn.Module):
    """Aligned faces (B, 3, S, S) in [0, 1], any S -> continuous controls (B, C) in [0, 1]."""

    def __init__(self, cfg: ControlsConfig) -> None:
        super().__init__()
        assert cfg.controls > 0, cfg
        self.cfg = cfg
        layers: list[nn.Module] = []
        c = 3
        for width in cfg.widths:
            layers += [_conv(c, width, 2), Residual(width)]
            c = width
        layers.append(_conv(c, cfg.squeeze, 1))
        self.features = nn.Sequential(*layers)
        side = cfg.size // 2 ** len(cfg.widths)
        # Flattened, not pooled: where a feature sits (an ear's height, the eyes' spacing) is
        # what many controls are.
        self.regress = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(cfg.squeeze * side * side, cfg.hidden),
            nn.ReLU(True),
            nn.Linear(cfg.hidden, cfg.controls),
        )

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != self.cfg.size:  # a 512 px aligned frame averages into 128 px
            images = F.interpolate(images, size=(self.cfg.size,) * 2, mode="area")
        return self.regress(self.features(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(images))


def build_controls_reader(config: str | ControlsConfig, controls: int) -> ControlsReader:
    """A fresh reader of `controls` continuous controls."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    return ControlsReader(ControlsConfig(**{**asdict(cfg), "controls": controls}))


def load_controls_reader(path: str | Path, device: str | torch.device = "cpu") -> ControlsReader:
    """A trained reader from its weights file, in `.eval()` mode."""
    stored = load_weights(Path(path), network=NETWORK, expected_rig=current_rig_id())
    model = ControlsReader(config_from_dict(stored.config))
    load_state(model, stored, path)
    return model.to(device).eval()
