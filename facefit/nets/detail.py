"""A detail reader: one discrete group read from a close crop of the aligned face.

The predictor sees the face at the extractor's 128 px, where the rig's brow styles differ by
a pixel or two of outline. This reads the brows at twice that: a fixed box of the aligned
frame around the reference face's brow landmarks (padded for what the brow controls can do),
split at the face's midline, the right half mirrored onto the left, one small CNN for both
halves and their logits summed, so each brow is evidence for the one style the rig draws on
both. The box comes from the reference face, not from the photo's landmarks: the aligner
already puts every face in that frame, and a box that followed each photo's landmarks would
move with the brow's shape, which is what is being read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from facefit.nets.weights import current_rig_id, load_state, load_weights

NETWORK = "detail"
BROW_LANDMARKS = tuple(range(17, 27))  # iBUG-68: both brows


@dataclass(frozen=True)
class DetailConfig:
    """What a reader reads and how; `options` and `box` are set from the rig at training."""

    group: str = "eyebrow_style"
    landmarks: tuple[int, ...] = BROW_LANDMARKS
    # Margins around the reference landmarks' box, as fractions of the frame side: brow
    # height moves a brow 0.6 cm, a high arch lifts it 1.8 cm, a thick one spreads 0.6 cm.
    pad_x: float = 0.09
    pad_top: float = 0.115
    pad_bottom: float = 0.085
    size: int = 256  # the aligned frame is read at this side
    widths: tuple[int, ...] = (32, 64, 96)
    options: int = 0
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # (top, bottom, left, right) px at `size`


CONFIGS: dict[str, DetailConfig] = {
    "brows": DetailConfig(),
    "tiny": DetailConfig(widths=(4, 8)),  # tests
}
READERS = ("brows",)  # the readers a fit uses where their weights are installed


def config_from_dict(data: dict) -> DetailConfig:
    data = dict(data)
    for key in ("landmarks", "widths", "box"):
        data[key] = tuple(data[key])
    return DetailConfig(**data)


def reader_box(cfg: DetailConfig, reference68: np.ndarray, frame: int) -> tuple[int, ...]:
    """The crop (top, bottom, left, right) in pixels at `cfg.size` around the reference
    face's landmarks (pixels of a `frame`-sized aligned frame), centred on the frame's
    midline, where the aligner puts the face's, so that its two halves mirror each other."""
    pts = np.asarray(reference68, np.float64)[list(cfg.landmarks)] / frame
    half = max(0.5 - pts[:, 0].min(), pts[:, 0].max() - 0.5) + cfg.pad_x
    half_px = min(cfg.size // 2, round(half * cfg.size))
    top = max(0, round((pts[:, 1].min() - cfg.pad_top) * cfg.size))
    bottom = min(cfg.size, round((pts[:, 1].max() + cfg.pad_bottom) * cfg.size))
    return top, bottom, cfg.size // 2 - half_px, cfg.size // 2 + half_px


def mirrored_halves(boxes: torch.Tensor) -> torch.Tensor:
    """(B, 3, h, w) boxes -> (2B, 3, h, w/2): left halves, then right halves mirrored."""
    half = boxes.shape[-1] // 2
    return torch.cat([boxes[..., :half], boxes[..., half:].flip(-1)])


def _block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]


class DetailReader(nn.Module):
    """Aligned faces (B, 3, S, S) in [0, 1] -> logits (B, options) of one discrete group."""

    def __init__(self, cfg: DetailConfig) -> None:
        super().__init__()
        assert cfg.options > 0 and cfg.box[1] > cfg.box[0], cfg
        self.cfg = cfg
        layers, c = [], 3
        for w in cfg.widths:  # per width a conv at full resolution, then a strided one
            layers += _block(c, w, 1) + _block(w, w, 2)
            c = w
        self.features = nn.Sequential(*layers)
        top, bottom, left, right = cfg.box
        h, w = bottom - top, (right - left) // 2
        for _ in cfg.widths:
            h, w = (h + 1) // 2, (w + 1) // 2
        # Flattened, not pooled: where along the brow the arch peaks is what tells styles apart.
        self.classify = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(c * h * w, cfg.options)
        )

    def crops(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (2B, 3, h, w): left halves, then mirrored right halves."""
        if images.shape[-1] != self.cfg.size:  # area: a 512 px frame averages into 256 px
            images = F.interpolate(images, size=(self.cfg.size,) * 2, mode="area")
        top, bottom, left, right = self.cfg.box
        return mirrored_halves(images[:, :, top:bottom, left:right])

    def logits_of_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """(2B, 3, h, w) halves as `crops` makes them -> (B, options), both halves summed."""
        out = self.classify(self.features(crops))
        b = out.shape[0] // 2
        return out[:b] + out[b:]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_of_crops(self.crops(images))


def build_reader(config: str | DetailConfig, group: str, options: int, box) -> DetailReader:
    """A fresh reader of `group` (`options` choices) over `box` (`reader_box`)."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    fields = {**asdict(cfg), "group": group, "options": options, "box": tuple(box)}
    return DetailReader(DetailConfig(**fields))


def load_reader(path: str | Path, device: str | torch.device = "cpu") -> DetailReader:
    """A trained reader from its weights file, in `.eval()` mode."""
    stored = load_weights(Path(path), network=NETWORK, expected_rig=current_rig_id())
    model = DetailReader(config_from_dict(stored.config))
    load_state(model, stored, path)
    return model.to(device).eval()
