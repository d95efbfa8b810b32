"""Can the predictor correct its own guess on the real rig? (predictor error feedback)

The predictor's guess on a rig render is biased: for a control it reads only partly, its
answer is pulled toward the middle. Its own reading of the real rig's render of that guess
shows the bias, so a step `x += gain * (P(photo) - P(render(x)))` on the continuous controls
removes it where the predictor reads the control at all: `P` is its own inverse, compared
like with like (a render against a render on rig faces). Each step costs one real render
and one extractor pass a face, not a search.

This fits with `full`'s or `fast`'s usual pipeline after such steps (the discrete choices
stay the predictor's and the readers') and prints `bench/sweep_fit.py`'s row for the
training folds' people beside the rig faces' errors (`facefit eval synthetic`, seed 7).
On photos the step also carries the photo-to-render gap of the predictor's reading into
the controls, which is what the landmark and identity columns show.

    OMP_NUM_THREADS=1 FACEFIT_TORCH_THREADS=1 .venv/bin/python bench/predictor_feedback.py \\
        --steps 0 3 [--gain 1.0] [--mode full] [--synthetic 48]
"""

from __future__ import annotations

import argparse

import torch
from sweep_fit import row
from tqdm import tqdm

from facefit.data.faces import faces_dir, fold_identities, read_manifest
from facefit.fit.evaluate import evaluate_photos, evaluate_synthetic, synthetic_face
from facefit.fit.fitter import Fitter, load_fitter
from facefit.fit.losses import color_vector


class FeedbackFitter(Fitter):
    """The shipped fitter whose start gets `steps` feedback steps through the real rig."""

    def __init__(self, fitter: Fitter, steps: int, gain: float) -> None:
        super().__init__(fitter.models, fitter.config, fitter.device)
        self.steps, self.gain = steps, gain

    def _continuous_reading(self, targets) -> torch.Tensor:
        guess = self.models.predictor(targets.features, targets.probs, color_vector(targets.colors))
        return guess[:, : self.layout.continuous_size]

    def _initial_vectors(self, targets, images, cfg):
        start = super()._initial_vectors(targets, images, cfg)
        if cfg.mode == "patent" or self.steps == 0:
            return start
        c = self.layout.continuous_size
        with torch.no_grad():
            wanted = self._continuous_reading(targets)
            for _ in range(self.steps):
                renders = [self._renderer.render(v) for v in start.cpu().numpy()]
                _, seen = self.targets_of([synthetic_face(r) for r in renders])
                step = self.gain * (wanted - self._continuous_reading(seen))
                start[:, :c] = (start[:, :c] + step).clamp(0.0, 1.0)
        return start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--gain", type=float, default=1.0)
    parser.add_argument("--mode", default="full", choices=("full", "fast"))
    parser.add_argument("--synthetic", type=int, default=48, help="random rig faces to fit")
    args = parser.parse_args()

    shipped = load_fitter()
    held = fold_identities(0)  # never used to choose: only the training folds are fitted
    records = [
        r for r in read_manifest(faces_dir()) if r.set == "london" and r.identity not in held
    ]
    print(
        "| steps | NME ratio | top-1 / verification, shape | top-1 / verification, all "
        "| women with facial hair | men with facial hair | hair overlap | iterations | s/face "
        "| rig faces: continuous MAE | rig faces: discrete accuracy |\n" + "|---" * 11 + "|"
    )
    for steps in args.steps:
        fitter = FeedbackFitter(shipped, steps, args.gain)
        with tqdm(total=len(records), desc=f"{steps} steps", unit="photo", leave=False) as bar:
            summary = evaluate_photos(fitter, records, progress=bar.update, mode=args.mode)
        training = summary["training_folds"]
        ok = [r for r in summary["rows"] if "error" not in r]
        training["iterations_mean"] = sum(r["iterations"] for r in ok) / max(len(ok), 1)
        with tqdm(total=args.synthetic, desc="rig faces", unit="face", leave=False) as bar:
            synthetic = evaluate_synthetic(
                fitter, n=args.synthetic, progress=bar.update, mode=args.mode
            )
        print(row({"steps": steps}, training, synthetic), flush=True)


if __name__ == "__main__":
    main()
