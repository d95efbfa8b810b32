"""How well could anything tell the rig's eyebrow styles apart from the brows it draws?

Each style is an arch height, an arch peak position, a thickness and a peak sharpness
(`facefit.rig.shapes.BROW_STYLES`), and the continuous controls `brow_arch` and
`brow_thickness` scale the style's own arch and thickness (`BROW_ARCH_RANGE`,
`BROW_THICKNESS_RANGE`). Rig 2.1 let them scale 0-2x and 0.5-1.5x: a flat, thick
`high_arch` brow was then drawn almost exactly like a `straight` or a `natural` one, and no
reader of the image could know which style was asked for. Rig 2.2 narrowed them to 0.7-1.3x
and 0.8-1.2x so that each style keeps a look of its own.

This measures that ceiling with the rig's own brow geometry (`BrowShape`): random faces
(style, arch and thickness uniform, as `facefit rig sample` draws them); an observer who
sees each brow's upper and lower outline to within `tol` cm (anything closer looks the same)
and knows the sampling prior picks the most probable style. Its accuracy is the best any
brow-style classifier can reach on `facefit eval synthetic`, before strands, shading, hair
and alignment blur the outline further.

    .venv/bin/python bench/brow_identifiability.py [--n 2000] [--tol 0.02,0.03,0.06,0.08,0.11]
        [--sheet docs/brow_styles.png]

Each tolerance is measured twice: with rig 2.1's ranges and with the installed rig's.
`--sheet` draws the reference face's brows in each style three times: as the style is
meant to look (arch and thickness controls at 0.5), then with those two controls set so that
every style draws a brow 0.3 cm high and 0.4 cm thick, as near as rig 2.1's ranges and as
near as the installed rig's allow.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from tqdm import tqdm

from facefit.rig import shapes
from facefit.rig.camera import CAM_DIST, focal_px
from facefit.rig.shapes import BROW_STYLES, BrowShape

T = np.linspace(0.0, 1.0, 61)  # positions along the brow, inner end -> outer end
RIG_2_1_RANGES = ((0.0, 2.0), (0.5, 1.5))  # brow_arch, brow_thickness factors before 2.2
INSTALLED = (shapes.BROW_ARCH_RANGE, shapes.BROW_THICKNESS_RANGE)


@contextmanager
def brow_ranges(arch: tuple[float, float], thickness: tuple[float, float]) -> Iterator[None]:
    """Draw brows (outlines and renders alike) with other control ranges for a while."""
    saved = shapes.BROW_ARCH_RANGE, shapes.BROW_THICKNESS_RANGE
    shapes.BROW_ARCH_RANGE, shapes.BROW_THICKNESS_RANGE = arch, thickness
    try:
        yield
    finally:
        shapes.BROW_ARCH_RANGE, shapes.BROW_THICKNESS_RANGE = saved


def outline(style: str, arch: float, thickness: float) -> np.ndarray:
    """(2 * len(T),) upper then lower edge height (cm) of a brow before tilt and length."""
    controls = {"brow_length": 0.5, "brow_tilt": 0.5, "brow_arch": arch}
    shape = BrowShape.from_controls({**controls, "brow_thickness": thickness}, style)
    centre, half = shape.centre(T), shape.half_thickness(T)
    return np.concatenate([centre + half, centre - half])


def style_outlines(grid: int) -> dict[str, np.ndarray]:
    """Per style, the outlines of a `grid` x `grid` lattice of (arch, thickness) controls."""
    values = np.linspace(0.0, 1.0, grid)
    return {
        s: np.stack([outline(s, a, k) for a in values for k in values]).astype(np.float32)
        for s in BROW_STYLES
    }


ALIKE_ARCH_CM, ALIKE_THICKNESS_CM = 0.3, 0.4


def alike_controls(style: str) -> tuple[float, float]:
    """(brow_arch, brow_thickness) with which `style` draws the common brow of the sheet."""
    arch, _, thick, _ = BROW_STYLES[style]
    (a0, a1), (k0, k1) = shapes.BROW_ARCH_RANGE, shapes.BROW_THICKNESS_RANGE
    return (
        float(np.clip((ALIKE_ARCH_CM / arch - a0) / (a1 - a0), 0.0, 1.0)),
        float(np.clip((ALIKE_THICKNESS_CM / thick - k0) / (k1 - k0), 0.0, 1.0)),
    )


def draw_sheet(path: str) -> None:
    """Rows: styles; columns: as designed | alike in rig 2.1 | alike in the installed rig, each
    the brow box of a 512 px render."""
    import cv2

    from facefit.nets.detail import CONFIGS, reader_box
    from facefit.rig.reference import REFERENCE_SIZE, reference_landmarks68
    from facefit.rig.render import Renderer
    from facefit.rig.spec import load_spec

    spec = load_spec()
    cfg = CONFIGS["brows"]
    top, bottom, left, right = (
        v * REFERENCE_SIZE // cfg.size
        for v in reader_box(cfg, reference_landmarks68(), REFERENCE_SIZE)
    )
    renderer = Renderer(size=REFERENCE_SIZE)

    def brow(style: str, arch: float, thick: float) -> np.ndarray:
        controls = {"brow_arch": arch, "brow_thickness": thick, "brow_darkness": 0.8}
        vec = spec.encode({"continuous": controls, "discrete": {"eyebrow_style": style}})
        return renderer.render(vec).image[top:bottom, left:right]

    gap = np.full((bottom - top, 8, 3), 255, np.uint8)
    rows = []
    for style in BROW_STYLES:
        cells = [brow(style, 0.5, 0.5)]
        for ranges in (RIG_2_1_RANGES, INSTALLED):
            with brow_ranges(*ranges):
                cells.append(brow(style, *alike_controls(style)))
        label = np.full((bottom - top, 150, 3), 255, np.uint8)
        cv2.putText(label, style, (8, (bottom - top) // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
        rows.append(np.concatenate([label, cells[0], gap, cells[1], gap, cells[2]], 1))
        rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))
    header = np.full((28, rows[0].shape[1], 3), 255, np.uint8)
    width = right - left
    titles = ("as designed", "alike, rig 2.1", "as alike as rig 2.2 allows")
    for i, text in enumerate(titles):
        cv2.putText(header, text, (150 + i * (width + 8) + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
    sheet = np.concatenate([header, *rows[:-1]])
    small = cv2.resize(sheet, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    cv2.imwrite(path, cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def map_accuracy(
    samples: np.ndarray, truth: np.ndarray, lattice: dict[str, np.ndarray], tol: float
) -> float:
    """Expected accuracy of the most probable style given outlines seen to within `tol`.

    A style's likelihood is the share of its (arch, thickness) lattice drawn within `tol` of
    the sample (uniform controls, uniform styles); the expected accuracy is the mean of the
    largest posterior, which the sample's own style reaches when nothing else is close.
    """
    styles = list(lattice)
    likelihood = np.zeros((len(samples), len(styles)))
    for start in range(0, len(samples), 16):  # 16 samples x a fine lattice fit in memory
        chunk = samples[start : start + 16, None]
        for j, s in enumerate(styles):
            near = np.abs(lattice[s][None] - chunk).max(-1) < tol
            likelihood[start : start + 16, j] = near.mean(1)
    likelihood[np.arange(len(truth)), truth] += 1e-9  # a lattice can miss the sample itself
    posterior = likelihood / likelihood.sum(1, keepdims=True)
    return float(posterior.max(1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="random brows")
    # A tolerance finer than the lattice's step (with 101 steps: 0.018 cm of `high_arch`'s
    # arch) finds no near brow of any style, and the sample's own style wins by default.
    ap.add_argument("--tol", default="0.02,0.03,0.06,0.08,0.11", help="outline tolerances, cm")
    ap.add_argument("--grid", type=int, default=101, help="lattice steps per control")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sheet", default=None, help="also draw the styles' brows to this PNG")
    args = ap.parse_args()
    if args.sheet:
        draw_sheet(args.sheet)

    rng = np.random.default_rng(args.seed)
    styles = list(BROW_STYLES)
    truth = rng.integers(len(styles), size=args.n)
    arch, thick = rng.random(args.n), rng.random(args.n)
    px_per_cm = {size: focal_px(size) / CAM_DIST for size in (512, 256, 128)}
    tolerances = [float(v) for v in args.tol.split(",")]
    rows = [
        {"tolerance_cm": tol, "pixels": {size: round(tol * f, 3) for size, f in px_per_cm.items()}}
        for tol in tolerances
    ]
    for name, ranges in (("rig_2_1", RIG_2_1_RANGES), ("installed", INSTALLED)):
        with brow_ranges(*ranges):
            samples = np.stack(
                [outline(styles[s], a, k) for s, a, k in zip(truth, arch, thick, strict=True)]
            )
            lattice = style_outlines(args.grid)
        for row in tqdm(rows, desc=f"tolerances, {name}", unit="tol"):
            accuracy = map_accuracy(samples, truth, lattice, row["tolerance_cm"])
            row[f"map_accuracy_{name}"] = round(accuracy, 3)
    print(json.dumps({"n": args.n, "styles": styles, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
