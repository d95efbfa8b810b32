"""Speed of the imitator and the extractor on this machine, as JSON.

Numbers: ms per imitator step and extractor pass, training images/s; recorded in
docs/benchmarks.md, "Imitator" and "Feature extractor".

    .venv/bin/python bench/bench_nets.py [--threads N]

Imitator: forward + backward to the parameter vector for one face (what a fit step costs)
and training throughput (images/s at batch 32). Extractor: forward for one image and
training throughput at batch 16. Random weights: speed does not depend on training.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from facefit.nets.extractor import CONFIGS as EXTRACTOR_CONFIGS
from facefit.nets.extractor import build_extractor
from facefit.nets.imitator import CONFIGS as IMITATOR_CONFIGS
from facefit.nets.imitator import build_imitator

VECTOR_SIZE = 64  # about the rig's; the cost is dominated by the convolutions


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats + 3):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times = sorted(times[3:])
    return 1000.0 * times[len(times) // 2]


def bench_imitator(name: str, repeats: int) -> dict:
    model = build_imitator(name, VECTOR_SIZE).eval()
    x = torch.full((1, VECTOR_SIZE), 0.5, requires_grad=True)

    def step():
        image, lm = model(x)
        (image.mean() + lm.mean()).backward()

    fb = median_ms(step, repeats)
    model.train()
    opt = torch.optim.Adam(model.parameters())
    batch = torch.rand(32, VECTOR_SIZE)
    target = torch.rand(32, 3, model.cfg.size, model.cfg.size)

    def train_step():
        image, _ = model(batch)
        loss = (image - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    ms = median_ms(train_step, max(2, repeats // 5))
    params = sum(p.numel() for p in model.parameters())
    return {
        "size": model.cfg.size,
        "params_m": round(params / 1e6, 2),
        "forward_backward_ms": round(fb, 2),
        "train_images_per_s": round(32000 / ms, 1),
    }


def bench_extractor(name: str, repeats: int) -> dict:
    model = build_extractor(name, 11).eval()
    side = model.cfg.size
    x = torch.rand(1, 3, side, side)
    with torch.no_grad():
        fw = median_ms(lambda: model(x), repeats)
    model.train()
    opt = torch.optim.AdamW(model.parameters())
    batch, target = torch.rand(16, 3, side, side), torch.randint(0, 11, (16, side, side))

    def train_step():
        loss = torch.nn.functional.cross_entropy(model(batch).logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()

    ms = median_ms(train_step, max(2, repeats // 5))
    params = sum(p.numel() for p in model.parameters())
    return {
        "size": side,
        "params_m": round(params / 1e6, 2),
        "forward_ms": round(fw, 2),
        "train_images_per_s": round(16000 / ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {
        "threads": torch.get_num_threads(),
        "imitator": {n: bench_imitator(n, args.repeats) for n in IMITATOR_CONFIGS if n != "tiny"},
        "extractor": {
            n: bench_extractor(n, args.repeats) for n in EXTRACTOR_CONFIGS if n != "tiny"
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
