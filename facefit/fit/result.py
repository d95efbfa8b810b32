"""What a fit returns, and how it is written: `params.json`, `preview.png`, `loss.png`."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

PREVIEW_HEIGHT = 256


@dataclass(frozen=True)
class FitResult:
    """One photo's fit: the game parameters, how the search went, and the pictures."""

    rig: str
    params: dict[str, Any]  # {"continuous": {name: value}, "discrete": {group: option}}
    fit: dict[str, Any]  # how the search went and which calibration it ran with (`fit_block`)
    models: dict[str, str]  # network file name -> sha256
    photo: np.ndarray  # (H, W, 3) uint8, the upload after intake
    aligned: np.ndarray  # (S, S, 3) uint8, the photo in the reference framing
    imitator_image: np.ndarray  # (s, s, 3) uint8, the imitator's render of the final params
    real_render: np.ndarray  # (S, S, 3) uint8, the real rig's render of the final params
    real_landmarks68: np.ndarray  # (68, 2) rig landmarks in aligned-frame pixels
    real_labels: np.ndarray  # (S, S) uint8 class ids of the real render (the rig's labels)
    photo_landmarks68: np.ndarray  # (68, 2) dlib landmarks in photo pixels
    transform: np.ndarray  # (2, 3) photo -> aligned
    loss_curve: list[tuple[int, float, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The `params.json` document a game server stores (and `facefit rig render` reads)."""
        return {"rig": self.rig, "params": self.params, "fit": self.fit, "models": self.models}

    def photo_cheek_lab(self) -> np.ndarray:
        """(3,) mean CIE Lab of the aligned photo's cheeks: the colour the character's skin should have."""
        from facefit.align.transform import apply_transform
        from facefit.fit.skin_regions import cheek_lab

        return cheek_lab(self.aligned, apply_transform(self.photo_landmarks68, self.transform))

    def preview_png(self) -> bytes:
        """photo | aligned | imitator | real render, side by side, as PNG bytes."""
        return encode_png(
            preview_strip([self.photo, self.aligned, self.imitator_image, self.real_render])
        )

    def loss_png(self) -> bytes:
        """Loss and similarity per iteration, as PNG bytes."""
        return encode_png(plot_loss_curve(self.loss_curve, self.fit.get("threshold")))


def fit_block(
    mode: str,
    found,
    i: int,
    real_loss: float,
    max_iters: int,
    threshold: float,
    calibration,
    beard_from_chin: bool,
    runner_ups: dict[str, list[str]],
) -> dict[str, Any]:
    """The `fit` block of face `i`'s result: what ran and how it went.

    `found` is the search's `SearchResult`; `max_iters` the budget the search ran with (0 in
    `fast`, whose answer is the start); `calibration` the `Calibration` the fit loaded;
    `runner_ups` each group's options, the chosen first (`facefit.fit.runner_ups`).
    """
    from facefit.fit.losses import similarity_from_loss

    return {
        "mode": mode,
        "iterations": found.iterations[i],
        "stopped_early": found.stopped_early[i],
        "loss": round(found.losses[i], 6),
        "similarity": round(found.similarities[i], 6),
        "real_render_loss": round(real_loss, 6),
        "real_render_similarity": round(similarity_from_loss(real_loss, calibration.loss_scale), 6),
        "threshold": threshold,
        "max_iters": max_iters,
        "calibration": calibration.name,
        "beard_from_chin": beard_from_chin,
        "runner_ups": runner_ups,
        "terms": {k: round(v, 6) for k, v in found.terms[i].items()},
    }


def fit_result(spec, models: dict[str, str], photo_face, vector, render, imitated, fit, curve):
    """One photo's `FitResult`: its (D,) parameter `vector` decoded, the real rig's `render`
    of it, the imitator's (3, s, s) `imitated`, the `fit` block and the search's loss curve."""
    from facefit.fit.real_rig import tensor_to_image

    photo, face = photo_face
    return FitResult(
        rig=spec.rig_id,
        params=spec.decode(vector.cpu().numpy()),
        fit=fit,
        models=dict(models),
        photo=photo,
        aligned=face.image,
        imitator_image=tensor_to_image(imitated),
        real_render=render.image,
        real_landmarks68=render.landmarks68,
        real_labels=render.labels,
        photo_landmarks68=face.photo_landmarks68,
        transform=face.transform,
        loss_curve=curve,
    )


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def preview_strip(images: list[np.ndarray], height: int = PREVIEW_HEIGHT) -> np.ndarray:
    """Images of any sizes scaled to one height and laid side by side with a thin gap."""
    tiles = []
    for img in images:
        h, w = img.shape[:2]
        tile = Image.fromarray(img).resize((max(1, round(w * height / h)), height), Image.BILINEAR)
        tiles.append(np.asarray(tile))
    gap = np.full((height, 4, 3), 255, np.uint8)
    parts = [tiles[0]]
    for tile in tiles[1:]:
        parts += [gap, tile]
    return np.concatenate(parts, axis=1)


def plot_loss_curve(
    curve: list[tuple[int, float, float]],
    threshold: float | None,
    size: tuple[int, int] = (480, 240),
) -> np.ndarray:
    """A small line plot of loss (red) and similarity (blue) per iteration, drawn with PIL.

    PIL rather than matplotlib: the worker draws one per job, and this costs ~1 ms.
    """
    w, h = size
    pad = 28
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([pad, 8, w - 8, h - pad], outline=(160, 160, 160))
    if curve:
        iters = [c[0] for c in curve]
        loss = [c[1] for c in curve]
        sims = [c[2] for c in curve]
        top = max(loss) or 1.0
        span = max(iters[-1], 1)

        def xy(i: int, v: float, vmax: float) -> tuple[float, float]:
            return pad + (w - 8 - pad) * i / span, (h - pad) - (h - pad - 8) * v / vmax

        if threshold is not None:
            y = xy(0, threshold, 1.0)[1]
            draw.line([(pad, y), (w - 8, y)], fill=(150, 150, 255))
        draw.line(
            [xy(i, v, top) for i, v in zip(iters, loss, strict=True)], fill=(200, 30, 30), width=2
        )
        draw.line(
            [xy(i, v, 1.0) for i, v in zip(iters, sims, strict=True)], fill=(30, 60, 200), width=2
        )
        draw.text((pad, h - pad + 6), f"iteration 0..{iters[-1]}", fill="black")
        draw.text((w - 190, h - pad + 6), f"loss {loss[-1]:.3f}  sim {sims[-1]:.3f}", fill="black")
    draw.text((pad + 4, 10), "loss (red), similarity (blue)", fill="black")
    return np.asarray(img)
