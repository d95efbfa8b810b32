"""What a fit returns, and how it is written: `params.json`, `preview.png`, `loss.png`."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

PREVIEW_HEIGHT = 256


@dataclass(frozen=True)
class FitResult:
    """One photo's fit: the game parameters, how the search went, and the pictures.

    The pictures of the character are drawn when first asked for: the game client draws
    its own, and `fast` returns the parameters without drawing any."""

    rig: str
    params: dict[str, Any]  # {"continuous": {name: value}, "discrete": {group: option}}
    fit: dict[str, Any]  # how the search went and which calibration it ran with (`fit_block`)
    models: dict[str, str]  # network file name -> sha256
    photo: np.ndarray  # (H, W, 3) uint8, the upload after intake
    aligned: np.ndarray  # (S, S, 3) uint8, the photo in the reference framing
    photo_landmarks68: np.ndarray  # (68, 2) dlib landmarks in photo pixels
    transform: np.ndarray  # (2, 3) photo -> aligned
    draw: Callable[[], Any] = field(repr=False, compare=False)  # -> the real rig's `Render`
    imitate: Callable[[], np.ndarray] = field(repr=False, compare=False)  # -> (s, s, 3) uint8
    loss_curve: list[tuple[int, float, float]] = field(default_factory=list)

    @cached_property
    def _render(self):
        return self.draw()

    @property
    def real_render(self) -> np.ndarray:
        """(S, S, 3) uint8, the real rig's render of the final params."""
        return self._render.image

    @property
    def real_landmarks68(self) -> np.ndarray:
        """(68, 2) rig landmarks of the real render in aligned-frame pixels."""
        return self._render.landmarks68

    @property
    def real_labels(self) -> np.ndarray:
        """(S, S) uint8 class ids of the real render (the rig's labels)."""
        return self._render.labels

    @cached_property
    def imitator_image(self) -> np.ndarray:
        """(s, s, 3) uint8, the imitator's render of the final params."""
        return self.imitate()

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
    real_loss: float | None,
    max_iters: int,
    threshold: float,
    calibration,
    beard_from_chin: bool,
    runner_ups: dict[str, list[str]],
) -> dict[str, Any]:
    """The `fit` block of face `i`'s result: what ran and how it went.

    `found` is the search's `SearchResult`; `max_iters` the budget the search ran with (0 in
    `fast`, whose answer is the start); `calibration` the `Calibration` the fit loaded;
    `runner_ups` each group's options, the chosen first (`facefit.fit.runner_ups`). A loss
    that was not judged (`fast`'s) is None, and so is its similarity.
    """
    from facefit.fit.losses import similarity_from_loss

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 6)

    real_similarity = (
        None if real_loss is None else similarity_from_loss(real_loss, calibration.loss_scale)
    )
    return {
        "mode": mode,
        "iterations": found.iterations[i],
        "stopped_early": found.stopped_early[i],
        "loss": rounded(found.losses[i]),
        "similarity": rounded(found.similarities[i]),
        "real_render_loss": rounded(real_loss),
        "real_render_similarity": rounded(real_similarity),
        "threshold": threshold,
        "max_iters": max_iters,
        "calibration": calibration.name,
        "beard_from_chin": beard_from_chin,
        "runner_ups": runner_ups,
        "terms": {k: round(v, 6) for k, v in found.terms[i].items()},
    }


def fit_result(spec, models: dict[str, str], photo_face, vector, draw, imitate, fit, curve):
    """One photo's `FitResult`: its (D,) parameter `vector` decoded, what draws the real
    rig's render of it and the imitator's picture of it, the `fit` block and the search's loss
    curve."""
    photo, face = photo_face
    return FitResult(
        rig=spec.rig_id,
        params=spec.decode(vector.cpu().numpy()),
        fit=fit,
        models=dict(models),
        photo=photo,
        aligned=face.image,
        photo_landmarks68=face.photo_landmarks68,
        transform=face.transform,
        draw=draw,
        imitate=imitate,
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
