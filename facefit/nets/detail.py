"""A detail reader: a discrete group, or a few continuous controls, read from a close crop.

The predictor sees the face at the extractor's 128 px, where the rig's brow styles differ by
a pixel or two of outline; the controls reader reads the pixels at that size too, and stays
at chance on the controls a pixel or two of outline decides (a brow's arch and thickness, a
lid's line, the cupid's bow). A detail reader reads them at twice that: a fixed box of the aligned
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
EYE_LANDMARKS = tuple(range(36, 48))
NOSE_TIP_LANDMARKS = tuple(range(31, 36))  # the nostrils' line
MOUTH_LANDMARKS = tuple(range(48, 68))
EAR_LANDMARKS = (0, 1, 2, 14, 15, 16)  # the jaw line beside the ears
# The continuous controls whose outline lies in each box.
EYE_CONTROLS = (
    "brow_arch", "brow_thickness", "brow_length", "brow_tilt", "lid_shape", "lower_lid",
    "eye_width", "eye_opening", "eye_size", "iris_size", "eye_tilt", "eye_depth",
)  # fmt: skip
MOUTH_CONTROLS = (
    "cupids_bow", "nose_tip_size", "nostril_size", "nose_protrusion", "nose_tip_angle",
    "upper_lip_thickness", "mouth_open", "mouth_corner_tilt",
)  # fmt: skip
# Not the ears' height nor the cheekbones': a smile lifts the cheeks and moves the aligned
# frame, and in a box fixed to the frame those readings moved between a person's neutral and
# smiling photos (docs/decisions.md).
EAR_CONTROLS = ("ear_size", "ear_protrusion", "ear_lobe")


@dataclass(frozen=True)
class DetailConfig:
    """What a reader reads and how; `options` and `box` are set from the rig at training."""

    group: str = "eyebrow_style"  # the discrete group it chooses; "" when it reads `controls`
    controls: tuple[str, ...] = ()  # the continuous controls it reads instead, each in [0, 1]
    landmarks: tuple[int, ...] = BROW_LANDMARKS
    # Margins around the reference landmarks' box, as fractions of the frame side: brow
    # height moves a brow 0.6 cm, a high arch lifts it 1.8 cm, a thick one spreads 0.6 cm.
    pad_x: float = 0.09
    pad_top: float = 0.115
    pad_bottom: float = 0.085
    # The middle of the box left out, as a fraction of the frame: each half starts this far
    # from the midline (the ears' box need not carry the cheeks between them).
    inner_x: float = 0.0
    size: int = 256  # the aligned frame is read at this side
    widths: tuple[int, ...] = (32, 64, 96)
    hidden: int = 0  # a hidden layer before the outputs (0: none)
    options: int = 0  # outputs: the group's options, or one per control
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # (top, bottom, left, right) px at `size`


CONFIGS: dict[str, DetailConfig] = {
    "brows": DetailConfig(),
    # Brows and eyes: the brows' margins above, a lower lid's drop and an eye's size below.
    "eyes": DetailConfig(
        group="",
        controls=EYE_CONTROLS,
        landmarks=BROW_LANDMARKS + EYE_LANDMARKS,
        pad_bottom=0.06,
        hidden=256,
    ),
    # The nose's tip and the mouth: a tip's size above the nostrils, an open mouth below.
    "mouth": DetailConfig(
        group="",
        controls=MOUTH_CONTROLS,
        landmarks=NOSE_TIP_LANDMARKS + MOUTH_LANDMARKS,
        pad_x=0.06,
        pad_top=0.07,
        pad_bottom=0.06,
        hidden=256,
    ),
    # The ears beside the temples: from above their top to below the lobe, outward for the
    # largest ear turned furthest out; the cheeks between them left out.
    "ears": DetailConfig(
        group="",
        controls=EAR_CONTROLS,
        landmarks=EAR_LANDMARKS,
        pad_x=0.09,
        pad_top=0.12,
        pad_bottom=0.06,
        inner_x=0.156,
        hidden=128,
    ),
}
# The readers a fit uses where their weights are installed, in the order their readings
# apply (a later one owns a control it reads closer than the ones before it).
READERS = ("brows", "eyes", "mouth", "ears")


def config_from_dict(data: dict) -> DetailConfig:
    data = dict(data)
    data.setdefault("controls", ())  # a reader saved before readers read controls
    data.setdefault("hidden", 0)
    data.setdefault("inner_x", 0.0)  # a reader saved before boxes could leave out their middle
    for key in ("landmarks", "widths", "box", "controls"):
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


def mirrored_halves(boxes: torch.Tensor, inner: int = 0) -> torch.Tensor:
    """(B, 3, h, w) boxes -> (2B, 3, h, w/2 - inner): left halves, then right halves
    mirrored, each without the `inner` px next to the midline."""
    half = boxes.shape[-1] // 2
    return torch.cat([boxes[..., : half - inner], boxes[..., half:].flip(-1)[..., : half - inner]])


def _block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]


class DetailReader(nn.Module):
    """Aligned faces (B, 3, S, S) in [0, 1] -> logits (B, options) of one discrete group, or
    of its continuous controls (their sigmoid is the reading: `read_controls`)."""

    def __init__(self, cfg: DetailConfig) -> None:
        super().__init__()
        assert cfg.options > 0 and cfg.box[1] > cfg.box[0], cfg
        self.cfg = cfg
        self.inner_px = round(cfg.inner_x * cfg.size)
        layers, c = [], 3
        for w in cfg.widths:  # per width a conv at full resolution, then a strided one
            layers += _block(c, w, 1) + _block(w, w, 2)
            c = w
        self.features = nn.Sequential(*layers)
        top, bottom, left, right = cfg.box
        h, w = bottom - top, (right - left) // 2 - self.inner_px
        for _ in cfg.widths:
            h, w = (h + 1) // 2, (w + 1) // 2
        # Flattened, not pooled: where along the brow the arch peaks is what tells styles apart.
        head: list[nn.Module] = [nn.Flatten(), nn.Dropout(0.2)]
        features = c * h * w
        if cfg.hidden:
            head += [nn.Linear(features, cfg.hidden), nn.ReLU(True)]
            features = cfg.hidden
        self.classify = nn.Sequential(*head, nn.Linear(features, cfg.options))

    def crops(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (2B, 3, h, w): left halves, then mirrored right halves."""
        if images.shape[-1] != self.cfg.size:  # area: a 512 px frame averages into 256 px
            images = F.interpolate(images, size=(self.cfg.size,) * 2, mode="area")
        top, bottom, left, right = self.cfg.box
        return self.halves(images[:, :, top:bottom, left:right])

    def halves(self, boxes: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) boxes cut at `cfg.box` -> (2B, 3, h, w') the halves this reader reads."""
        return mirrored_halves(boxes, self.inner_px)

    def logits_of_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """(2B, 3, h, w) halves as `crops` makes them -> (B, options), both halves summed."""
        out = self.classify(self.features(crops))
        b = out.shape[0] // 2
        return out[:b] + out[b:]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_of_crops(self.crops(images))

    def read_controls(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, len(cfg.controls)) in [0, 1]: a controls reader's reading."""
        assert self.cfg.controls, "this reader chooses a discrete group"
        return torch.sigmoid(self(images))


def build_reader(config: str | DetailConfig, group: str, options: int, box) -> DetailReader:
    """A fresh reader of `group` (`options` choices), or of the config's continuous
    controls (`group` "", `options` their count), over `box` (`reader_box`)."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    fields = {**asdict(cfg), "group": group, "options": options, "box": tuple(box)}
    return DetailReader(DetailConfig(**fields))


def load_reader(path: str | Path, device: str | torch.device = "cpu") -> DetailReader:
    """A trained reader from its weights file, in `.eval()` mode."""
    stored = load_weights(Path(path), network=NETWORK, expected_rig=current_rig_id())
    model = DetailReader(config_from_dict(stored.config))
    load_state(model, stored, path)
    return model.to(device).eval()
