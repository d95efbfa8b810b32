"""Where does the fit's own loss put a rig face's continuous controls, starting from the truth?

`facefit eval synthetic` measures the whole fit: the predictor's guess, a short search and the
real-rig steps. This separates the search from its loss. Each random rig face (the same
faces as `eval synthetic`, seed 7) is fitted starting from its true parameters, every
discrete choice held at the truth, with the fit's loss (imitator render -> extractor features,
landmarks, colour, prior) and a long, gentle search (`--iters`, `--lr`, no early stop). Where
the loss's minimum is the truth, the controls stay; where the imitator or the extractor
cannot tell a control's value, the search drifts to whatever the networks prefer. So the
continuous error it ends at is about the best the fit's loss can support with these
networks, however good the start and however long the search; and whether the loss at the
end is lower than at the truth says whether the drift is the loss's preference or noise.

`--loss pixels` asks the same of the imitator alone: the continuous controls (as `sigmoid`
of free values, like the fit's) follow Adam on the mean absolute difference between the
imitator's image and the rig's render at the imitator's resolution, with no extractor,
landmark, colour or prior term. Where it drifts as far as the fit's loss, the imitator is
what cannot tell the controls apart; where it stays, the extractor's features lose them.

`--anchor-every N` runs the fit's loss with the search anchored to the real rig every N
updates (`FitConfig.anchor_every`): the imitator's errors then no longer pull the search.

    OMP_NUM_THREADS=1 FACEFIT_TORCH_THREADS=1 .venv/bin/python bench/fit_from_truth.py \\
        [--n 48] [--iters 60] [--lr 0.05] [--loss fit|pixels] [--anchor-every N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import cv2
import numpy as np
import torch
from tqdm import tqdm

from facefit.fit.evaluate import synthetic_face
from facefit.fit.fitter import image_to_tensor, load_fitter
from facefit.fit.optimize import search
from facefit.fit.params import ParamLayout
from facefit.rig.render import Renderer


def pixel_search(
    imitator: torch.nn.Module,
    images: torch.Tensor,
    truth: torch.Tensor,
    layout: ParamLayout,
    iters: int,
    lr: float,
) -> tuple[torch.Tensor, list[float], list[float]]:
    """Continuous controls from `truth` (B, D) by Adam on the imitator's pixel L1 to `images`.

    The discrete one-hots stay as in `truth`. Returns the final vectors and each face's loss
    at the truth and at the end.
    """
    imitator.requires_grad_(False)
    c = layout.continuous_size
    z = torch.logit(truth[:, :c].clamp(1e-4, 1 - 1e-4)).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.99))

    def losses(vector: torch.Tensor) -> torch.Tensor:
        drawn, _ = imitator(vector)
        return (drawn - images).abs().flatten(1).mean(1)

    start = None
    for _ in range(iters):
        loss = losses(torch.cat([torch.sigmoid(z), truth[:, c:]], dim=1))
        start = loss.detach() if start is None else start
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
    vector = torch.cat([torch.sigmoid(z), truth[:, c:]], dim=1).detach()
    with torch.no_grad():
        end = losses(vector)
    return vector, start.tolist(), end.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7, help="as `facefit eval synthetic`")
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--loss", choices=("fit", "pixels"), default="fit")
    parser.add_argument("--anchor-every", type=int, default=0, help="with --loss fit")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args()

    fitter = load_fitter()
    spec, layout, m = fitter.spec, fitter.layout, fitter.models
    cfg = replace(
        fitter.config,
        max_iters=args.iters,
        threshold=1.0,
        lr=args.lr,
        anchor_every=args.anchor_every,
    )
    renderer = Renderer(size=fitter.aligned_size)
    rng = np.random.default_rng(args.seed)
    truths = np.stack([spec.random_vector(rng) for _ in range(args.n)])
    groups = tuple(group for group, _, _ in layout.discrete_slices)
    c = layout.continuous_size
    errors, loss_truth, loss_end = [], [], []
    for start in tqdm(range(0, args.n, args.batch), desc="batches", unit="batch"):
        chunk = truths[start : start + args.batch]
        faces = [synthetic_face(renderer.render(v)) for v in chunk]
        init = torch.as_tensor(chunk, dtype=torch.float32, device=fitter.device)
        if args.loss == "pixels":
            size = m.imitator.cfg.size  # the rig render at the imitator's side, as it trained
            small = [cv2.resize(f.image, (size, size), interpolation=cv2.INTER_AREA) for f in faces]
            images = torch.cat([image_to_tensor(im, fitter.device) for im in small])
            vecs, first, last = pixel_search(m.imitator, images, init, layout, args.iters, args.lr)
            errors.append(np.abs(vecs.cpu().numpy()[:, :c] - chunk[:, :c]))
            loss_truth += first
            loss_end += last
            continue
        _, targets = fitter.targets_of(faces)
        found = search(
            m.imitator, m.extractor, targets, init, layout, fitter.labels, cfg,
            m.extractor_size, fixed_groups=groups, anchor=fitter.rig_anchor,
        )  # fmt: skip
        vecs = found.vectors.detach().cpu().numpy()
        errors.append(np.abs(vecs[:, :c] - chunk[:, :c]))
        loss_truth += [h[0][1] for h in found.history]
        loss_end += found.losses
    errors = np.concatenate(errors)
    per_control = dict(
        zip([k.name for k in spec.continuous], errors.mean(0).round(4).tolist(), strict=True)
    )
    result = {
        "n": args.n, "iters": args.iters, "lr": args.lr, "loss": args.loss,
        "anchor_every": args.anchor_every,
        "continuous_mae": float(errors.mean()),
        "loss_at_truth": float(np.mean(loss_truth)),
        "loss_at_end": float(np.mean(loss_end)),
        "faces_whose_loss_fell": float(np.mean(np.array(loss_end) < np.array(loss_truth))),
        "continuous_mae_per_control": per_control,
    }  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print(
        f"continuous MAE after {args.iters} iterations from the truth: "
        f"{result['continuous_mae']:.3f}; loss {result['loss_at_truth']:.4f} at the truth, "
        f"{result['loss_at_end']:.4f} at the end (lower on "
        f"{100 * result['faces_whose_loss_fell']:.0f} % of faces)"
    )
    worst = sorted(per_control.items(), key=lambda kv: -kv[1])[:15]
    print("drifted most: " + ", ".join(f"{k} {v:.2f}" for k, v in worst))


if __name__ == "__main__":
    main()
