"""The feature extractor f(Y): a residual face-parsing network (patent §0080-0083).

A ResNet encoder whose later stages are dilated instead of strided (as in the published
F2P), so the deepest features stay at 1/8 of the input, and a 1x1 classifier to the rig's
11 classes. `forward` returns the feature maps of several depths and the class
probabilities: the fitter compares photo and render features by an L1 loss weighted by them.
The classifier also reads the 1/4-resolution features (a DeepLabv3+-style skip) and, in
`lite`, refines them with the stem's 1/2-resolution features, because brows, eyes and lips
are only two or three pixels thick on a 128 px face: at 1/4 they are under one cell.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from facefit.errors import ModelError
from facefit.nets.weights import load_state, load_weights

logger = logging.getLogger(__name__)

NETWORK = "extractor"
IGNORE_INDEX = 255


@dataclass(frozen=True)
class ExtractorConfig:
    """Shape of an extractor; `n_classes` comes from the rig's labels."""

    n_classes: int = 11
    size: int = 128  # input side: aligned face, RGB in [0, 1]
    stem: int = 32
    widths: tuple[int, ...] = (48, 64, 96, 128)  # stages at 1/4, 1/8, 1/8 (d2), 1/8 (d4)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    skip: bool = True  # classifier also reads the 1/4 features
    head: int = 64
    fine: int = 0  # channels of a 1/2-resolution refinement on the stem features (0: none)


CONFIGS: dict[str, ExtractorConfig] = {
    # Patent §0081 input size; wider stages.
    "f2p": ExtractorConfig(size=256, stem=32, widths=(64, 128, 192, 256), blocks=(2, 2, 2, 2)),
    # Two-core CPU budget.
    "lite": ExtractorConfig(size=128, fine=24),
    "tiny": ExtractorConfig(size=32, stem=8, widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1), head=8),
}
DEFAULT_CONFIG = "lite"


def config_from_dict(data: dict) -> ExtractorConfig:
    """Inverse of `asdict` for a stored config (tuples come back as lists)."""
    data = dict(data)
    data["widths"] = tuple(data["widths"])
    data["blocks"] = tuple(data["blocks"])
    return ExtractorConfig(**data)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection; stride or dilation on the first."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        out = F.relu(
            self.bn1(self.conv1(x)), inplace=True
        )  # (B, c_in, H, W) -> (B, c_out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity, inplace=True)


def _stage(c_in: int, c_out: int, n: int, stride: int, dilation: int) -> nn.Sequential:
    layers = [BasicBlock(c_in, c_out, stride, 1 if stride > 1 else dilation)]
    layers += [BasicBlock(c_out, c_out, 1, dilation) for _ in range(n - 1)]
    return nn.Sequential(*layers)


@dataclass
class ExtractorOutput:
    """Features of several depths, class logits and probabilities at the input size."""

    features: list[torch.Tensor]  # [(B, C_k, H_k, W_k)], shallow to deep
    logits: torch.Tensor  # (B, K, S, S)
    probs: torch.Tensor  # (B, K, S, S)


class Extractor(nn.Module):
    """f(Y): aligned face image -> multi-depth features and per-pixel class probabilities."""

    def __init__(self, cfg: ExtractorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.stem = nn.Sequential(
            nn.Conv2d(3, cfg.stem, 3, 2, 1, bias=False),
            nn.BatchNorm2d(cfg.stem),
            nn.ReLU(inplace=True),
        )
        self.layer1 = _stage(cfg.stem, w[0], cfg.blocks[0], stride=2, dilation=1)  # 1/4
        self.layer2 = _stage(w[0], w[1], cfg.blocks[1], stride=2, dilation=1)  # 1/8
        self.layer3 = _stage(w[1], w[2], cfg.blocks[2], stride=1, dilation=2)  # 1/8, dilated
        self.layer4 = _stage(w[2], w[3], cfg.blocks[3], stride=1, dilation=4)  # 1/8, dilated
        head_in = w[3] + (w[0] if cfg.skip else 0)
        self.head = nn.Sequential(
            nn.Conv2d(head_in, cfg.head, 1, bias=False),
            nn.BatchNorm2d(cfg.head),
            nn.ReLU(inplace=True),
        )
        self.fine = self.fine_in = None
        if cfg.fine:
            # projected before upsampling, so the 1/2-resolution convolution stays narrow
            self.fine_in = nn.Conv2d(cfg.head, cfg.fine, 1, bias=False)
            self.fine = nn.Sequential(
                nn.Conv2d(cfg.fine + cfg.stem, cfg.fine, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cfg.fine),
                nn.ReLU(inplace=True),
            )
        self.classifier = nn.Conv2d(cfg.fine or cfg.head, cfg.n_classes, 1)
        self.register_buffer("pixel_mean", torch.tensor([0.5, 0.45, 0.4]).view(1, 3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> ExtractorOutput:
        """image (B, 3, S, S) RGB in [0, 1]."""
        size = image.shape[-2:]
        x = (image - self.pixel_mean) / self.pixel_std
        f0 = self.stem(x)  # (B, 3, S, S) -> (B, stem, S/2, S/2)
        f1 = self.layer1(f0)  # -> (B, w0, S/4, S/4)
        f2 = self.layer2(f1)  # -> (B, w1, S/8, S/8)
        f3 = self.layer3(f2)  # -> (B, w2, S/8, S/8)
        f4 = self.layer4(f3)  # -> (B, w3, S/8, S/8)
        if self.cfg.skip:
            up = F.interpolate(f4, size=f1.shape[-2:], mode="bilinear", align_corners=False)
            h = self.head(
                torch.cat([up, f1], dim=1)
            )  # (B, w3 + w0, S/4, S/4) -> (B, head, S/4, S/4)
        else:
            h = self.head(f4)  # (B, head, S/8, S/8)
        if self.fine is not None:
            up = F.interpolate(
                self.fine_in(h), size=f0.shape[-2:], mode="bilinear", align_corners=False
            )
            h = self.fine(torch.cat([up, f0], dim=1))  # -> (B, fine, S/2, S/2)
        logits = F.interpolate(self.classifier(h), size=size, mode="bilinear", align_corners=False)
        return ExtractorOutput([f1, f2, f3, f4], logits, logits.softmax(dim=1))


def build_extractor(config: str | ExtractorConfig, n_classes: int) -> Extractor:
    """A fresh extractor of a named config (or an explicit one) for `n_classes` labels."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    return Extractor(ExtractorConfig(**{**asdict(cfg), "n_classes": n_classes}))


@dataclass(frozen=True)
class LoadedExtractor:
    """A ready extractor with its config name, rig id and class names."""

    model: Extractor
    config_name: str
    rig: str
    labels: list[str]


def load_extractor(
    path: str | Path, device: str | torch.device = "cpu", rig: str | None = "current"
) -> Extractor:
    """Construct an extractor from a weights file, check it, load it and call `.eval()`.

    `rig="current"` checks that the file parses the installed rig's label classes; another
    rig id checks the file's rig id, and `None` skips the check.
    """
    return load_extractor_with_info(path, device, rig).model


def load_extractor_with_info(
    path: str | Path, device: str | torch.device = "cpu", rig: str | None = "current"
) -> LoadedExtractor:
    """`load_extractor` that also returns the config name, rig id and class names.

    With `rig="current"` the file must parse the installed rig's label classes, in order: an
    extractor reads images into classes and knows nothing of the rig's controls, so a rig
    revision that only changes what controls do (2.1 -> 2.2: the brow ranges) keeps it.
    """
    # An explicit rig id is checked by `load_weights`; "current" checks the classes below.
    expected = None if rig == "current" else rig
    stored = load_weights(Path(path), network=NETWORK, expected_rig=expected)
    if rig == "current":
        from facefit.rig.spec import load_spec

        spec = load_spec()
        if list(stored.layout.get("labels", [])) != list(spec.labels):
            raise ModelError(
                f"{Path(path).name} parses the classes of rig {stored.rig!r}, not those of "
                f"{spec.rig_id!r}; retrain it on shards of the current rig"
            )
    try:
        cfg = config_from_dict(stored.config)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{Path(path).name} has an unknown extractor config: {exc}") from exc
    model = Extractor(cfg)
    load_state(model, stored, path)
    model.to(device).eval()
    labels = list(stored.layout.get("labels", []))
    logger.info(
        "loaded extractor %s (%s) for rig %s", Path(path).name, stored.config_name, stored.rig
    )
    return LoadedExtractor(model, stored.config_name, stored.rig, labels)
