"""The amortised predictor: aligned photo -> game parameters in one forward pass.

As in the published fast variant of face-to-parameter, a small head reads the frozen
extractor's features (here also its class probabilities and the photo's mean colour per
colour region, as the fit measures them) and regresses the parameter vector. The caller
runs the extractor: the fitter already has its output as the loss targets (`PhotoTargets`).
`--mode fast` uses it alone; `--mode full` starts the iterative search from its discrete
choices (and, as configured, from its continuous guess). The head is trained on rig
renders (parameters known) and, optionally, self-supervised on real photos through the
imitator (`facefit.train.predictor`).
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
    # Channels of three strided convs that bring the extractor's full-resolution class
    # probabilities down to 1/8 beside its features (0: none). The 1/8 features blur the
    # outline of a brow or an eyelid, a pixel or two at 128 px, which is what the brow style
    # and the eye controls change.
    probs_width: int = 0
    # Length of the photo's mean colour per colour region (`facefit.fit.losses.color_vector`:
    # RGB of each of the fit's 4 regions) fed to the MLP (0: none). The extractor is trained
    # to ignore colour casts, so its features cannot tell skin warmth, eye or lip colour
    # apart. The shipped head learned only skin tone from them, although the colours
    # determine more: its BatchNorm statistics end up half photos, because the photo term's
    # forward passes update them too (docs/benchmarks.md).
    color_size: int = 0


CONFIGS: dict[str, PredictorConfig] = {
    "lite": PredictorConfig(probs_width=32, color_size=12),
    "tiny": PredictorConfig(width=8, hidden=32, probs_width=4, color_size=12),
}
DEFAULT_CONFIG = "lite"


def config_from_dict(data: dict) -> PredictorConfig:
    data = dict(data)
    data["discrete_sizes"] = tuple(data["discrete_sizes"])
    return PredictorConfig(**data)


class PredictorHead(nn.Module):
    """Extractor features (1/8 resolution, two depths), class probabilities and region
    colours -> parameter logits."""

    def __init__(self, cfg: PredictorConfig, feature_channels: int, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.probs = None
        if cfg.probs_width:
            pw = cfg.probs_width
            self.probs = nn.Sequential(
                *[
                    layer
                    for c_in in (n_classes, pw, pw)
                    for layer in (
                        nn.Conv2d(c_in, pw, 3, 2, 1, bias=False),
                        nn.BatchNorm2d(pw),
                        nn.ReLU(inplace=True),
                    )
                ]
            )
        self.reduce = nn.Sequential(
            nn.Conv2d(feature_channels + cfg.probs_width, cfg.width, 3, 2, 1, bias=False),
            nn.BatchNorm2d(cfg.width),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.width, cfg.width, 3, 2, 1, bias=False),
            nn.BatchNorm2d(cfg.width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4),
        )
        out = cfg.continuous_size + sum(cfg.discrete_sizes)
        # The Flatten stays first (a no-op on the flat input) so that heads saved before the
        # colour input existed keep their parameter names.
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cfg.width * 16 + cfg.color_size, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, out),
        )

    def forward(
        self, features: torch.Tensor, probs: torch.Tensor, colors: torch.Tensor
    ) -> torch.Tensor:
        """(B, C, h, w), (B, L, S, S), (B, color_size) -> (B, D) raw outputs (continuous
        logits, then discrete logits)."""
        if self.probs is not None:
            p = self.probs(probs)  # (B, L, S, S) -> (B, probs_width, S/8, S/8)
            features = torch.cat([features, F.adaptive_avg_pool2d(p, features.shape[-2:])], 1)
        x = self.reduce(features).flatten(1)  # -> (B, width * 16)
        if self.cfg.color_size:
            x = torch.cat([x, colors], dim=1)
        return self.mlp(x)


class Predictor(nn.Module):
    """A frozen extractor and a trainable head: what the extractor made of an image ->
    parameter vector."""

    def __init__(self, extractor: nn.Module, cfg: PredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.extractor = extractor.requires_grad_(False)
        widths = extractor.cfg.widths
        self.head = PredictorHead(cfg, widths[1] + widths[3], extractor.cfg.n_classes)

    def raw(
        self, features: list[torch.Tensor], probs: torch.Tensor, colors: torch.Tensor
    ) -> torch.Tensor:
        """(B, D) unconstrained outputs from the extractor's output for an image (its features
        and class probabilities) and the image's region colours (`color_vector`)."""
        f2, f4 = features[1], features[3]  # both at 1/8 resolution
        return self.head(torch.cat([f2.detach(), f4.detach()], dim=1), probs.detach(), colors)

    def split(self, raw: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Raw outputs -> continuous values in [0, 1] (B, C) and per-group logits [(B, K)]."""
        c = self.cfg.continuous_size
        continuous = torch.sigmoid(raw[:, :c])
        logits = list(torch.split(raw[:, c:], list(self.cfg.discrete_sizes), dim=1))
        return continuous, logits

    def forward(
        self, features: list[torch.Tensor], probs: torch.Tensor, colors: torch.Tensor
    ) -> torch.Tensor:
        """(B, D) vector: continuous values and per-group probabilities (arguments as `raw`)."""
        return self.vector(self.raw(features, probs, colors))

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
