"""How well could anything read the rig's continuous controls back from a frontal render?

`facefit eval synthetic` asks the fit to recover all 65 continuous controls of random rig
faces, to a mean absolute error of 0.06 (a constant 0.5 guess scores 0.25). Some controls
barely change a frontal picture (an ear lobe, how far the nose sticks out), and some change
nothing on some faces (a hair colour on a bald head, beard density without a beard). This
measures the ceiling those set, with the real rig:

For each random face (drawn as `facefit rig sample` draws them) and each control, the face
is rendered with that control at 0 and at 1, the others kept, and the difference is the
control's effect on that face. An ideal observer who knows the rig exactly, knows every
discrete choice and every effect, sees the picture with independent Gaussian noise of
standard deviation `sigma` on each value, and knows that controls are drawn uniformly
(variance 1/12), reads the controls by linear least squares with that prior. Its expected
error per control is sqrt(2/pi) times the posterior standard deviation, at most 0.25 (no
information: guess the middle). That is a lower bound on what a fit can reach: it is linear
(the face is treated as if each control moved it in a straight line), the noise is
independent from value to value (the imitator's errors are not), and nothing is unknown but
the controls.

Two observers are measured:
- `pixels`: the RGB picture at the fit's 128 px (rendered at 256 and area-averaged, as the
  imitator's training renders are), values in [0, 1];
- `parse`: only what a perfect face parser reports, the share of each pixel covered by each
  of the rig's 11 label classes at 128 px. The fit compares the extractor's features, which
  are trained to parse; what shading alone shows (depth, protrusion) a parser has no reason
  to keep.

    .venv/bin/python bench/control_identifiability.py [--n 60] [--sigma 0.005,0.01,0.02,0.04]
        [--fit [LABEL=]EVAL.json ...] [--chart docs/control_ceiling.png] [--json FILE]
        [--load FILE]

`--load` reads a result written by `--json` instead of measuring again (to redraw the chart).

`--fit` (repeatable, `LABEL=FILE`) takes the JSON of `facefit eval synthetic` and sets its
per-control errors beside the ceilings, in the table (the mean) and in the chart.
"""

from __future__ import annotations

import argparse
import json
import math

import cv2
import numpy as np
from tqdm import tqdm

from facefit.rig.render import Renderer
from facefit.rig.spec import load_spec

RENDER_SIZE = 256  # as `facefit rig sample --size 256`
SEEN_SIZE = 128  # the imitator's and the extractor's side
PRIOR_PRECISION = 12.0  # 1 / variance of U[0, 1]
CHANCE = 0.25  # error of guessing 0.5 for a U[0, 1] control


def observe(render, classes: int) -> dict[str, np.ndarray]:
    """What each observer sees of one render, flattened to float64."""
    image = cv2.resize(
        render.image.astype(np.float32) / 255.0,
        (SEEN_SIZE, SEEN_SIZE),
        interpolation=cv2.INTER_AREA,
    )
    onehot = (render.labels[..., None] == np.arange(classes)).astype(np.float32)
    cover = cv2.resize(onehot, (SEEN_SIZE, SEEN_SIZE), interpolation=cv2.INTER_AREA)
    return {"pixels": image.ravel().astype(np.float64), "parse": cover.ravel().astype(np.float64)}


def effects(renderer: Renderer, vec: np.ndarray, continuous: int, classes: int) -> dict:
    """Per observer, (values, controls): the change each control makes from 0 to 1 here."""
    columns: dict[str, list[np.ndarray]] = {"pixels": [], "parse": []}
    for k in range(continuous):
        lo, hi = vec.copy(), vec.copy()
        lo[k], hi[k] = 0.0, 1.0
        seen_lo, seen_hi = (observe(renderer.render(v), classes) for v in (lo, hi))
        for name in columns:
            columns[name].append(seen_hi[name] - seen_lo[name])
    return {name: np.stack(cols, axis=1) for name, cols in columns.items()}


def expected_errors(gram: np.ndarray, sigma: float) -> np.ndarray:
    """(controls,) expected absolute error of the linear-Gaussian ideal observer."""
    precision = gram / sigma**2 + PRIOR_PRECISION * np.eye(len(gram))
    posterior_sd = np.sqrt(np.diag(np.linalg.inv(precision)))
    return np.minimum(math.sqrt(2.0 / math.pi) * posterior_sd, CHANCE)


def measure(n: int, sigmas: list[float], seed: int) -> dict:
    spec = load_spec()
    renderer = Renderer(size=RENDER_SIZE, spec=spec)
    classes, continuous = len(spec.labels), spec.continuous_size
    rng = np.random.default_rng(seed)
    errors = {obs: {s: [] for s in sigmas} for obs in ("pixels", "parse")}
    for _ in tqdm(range(n), desc="faces", unit="face"):
        vec = spec.random_vector(rng)
        for obs, jac in effects(renderer, vec, continuous, classes).items():
            gram = jac.T @ jac
            for s in sigmas:
                errors[obs][s].append(expected_errors(gram, s))
    names = [c.name for c in spec.continuous]
    out: dict = {"rig": spec.rig_id, "n": n, "seed": seed, "observers": {}}
    for obs, by_sigma in errors.items():
        out["observers"][obs] = {
            str(s): {
                "mean": float(np.mean(errs)),
                "per_control": dict(
                    zip(names, np.mean(errs, axis=0).round(4).tolist(), strict=True)
                ),
            }
            for s, errs in by_sigma.items()
        }
    return out


def draw_chart(result: dict, sigma: str, fits: dict[str, dict], path: str) -> None:
    """Per-control bars: the two ideal observers, then each fit, sorted by the first fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {
        f"ideal observer, pixels (σ={sigma})": result["observers"]["pixels"][sigma]["per_control"],
        f"ideal observer, parse (σ={sigma})": result["observers"]["parse"][sigma]["per_control"],
        **fits,
    }
    order = next(iter(fits.values())) if fits else series[f"ideal observer, parse (σ={sigma})"]
    names = sorted(order, key=lambda k: order[k])
    x = np.arange(len(names))
    width = 0.84 / len(series)
    fig, ax = plt.subplots(figsize=(15, 4.8))
    for i, (label, errors) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        ax.bar(x + offset, [errors[k] for k in names], width, label=label)
    ax.axhline(CHANCE, color="grey", lw=0.8, ls="--", label="chance (guess 0.5)")
    ax.axhline(0.06, color="black", lw=0.8, ls=":", label="target mean 0.06")
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    ax.set_ylabel("mean absolute error")
    ax.set_title(
        f"{result['rig']}: error per continuous control (ideal observers: {result['n']} random faces)"
    )
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def read_fits(specs: list[str]) -> dict[str, dict]:
    """`LABEL=FILE` (or a bare FILE, labelled "the fit") -> {label: per-control errors}."""
    fits = {}
    for spec in specs:
        label, _, path = spec.rpartition("=")
        with open(path) as f:
            fits[label or "the fit"] = json.load(f)["continuous_mae_per_control"]
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60, help="random faces")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--sigma", default="0.005,0.01,0.02,0.04", help="noise levels to try")
    parser.add_argument(
        "--fit",
        action="append",
        default=[],
        help="[LABEL=]JSON of `facefit eval synthetic` to compare with (repeatable)",
    )
    parser.add_argument("--chart", help="draw per-control errors at the second sigma here")
    parser.add_argument("--json", help="write the full result here")
    parser.add_argument("--load", help="a result written by --json: report it, measure nothing")
    args = parser.parse_args()
    if args.load:
        with open(args.load) as f:
            result = json.load(f)
        sigmas = [float(s) for s in result["observers"]["pixels"]]
    else:
        sigmas = [float(s) for s in args.sigma.split(",")]
        result = measure(args.n, sigmas, args.seed)
    fits = read_fits(args.fit)
    if args.json and not args.load:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print(
        f"| sigma | ideal observer, pixels | ideal observer, parse |{''.join(f' {k} |' for k in fits)}"
    )
    print(f"|---|---|---|{'---|' * len(fits)}")
    means = "".join(f" {np.mean(list(v.values())):.3f} |" for v in fits.values())
    for s in map(str, sigmas):
        row = [result["observers"][o][s]["mean"] for o in ("pixels", "parse")]
        print(f"| {s} | {row[0]:.3f} | {row[1]:.3f} |{means}")
    mid = str(sigmas[min(1, len(sigmas) - 1)])
    per = result["observers"]["parse"][mid]["per_control"]
    blind = sorted((v, k) for k, v in per.items() if v > 0.2)
    print(f"controls a parser at sigma={mid} cannot read (error > 0.2): {len(blind)}")
    print(", ".join(f"{k} {v:.2f}" for v, k in blind))
    if args.chart:
        draw_chart(result, mid, fits, args.chart)


if __name__ == "__main__":
    main()
