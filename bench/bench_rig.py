"""Rig speed: median ms per render at 512 px, and samples/s of `facefit rig sample` at 256 px.

Recorded in docs/benchmarks.md, "Rig".

Usage: taskset -c 0 env LP_NUM_THREADS=1 .venv/bin/python bench/bench_rig.py [--n 40]
(one core for the render timing), and `--sample N` to also time the sampler on all cores;
`--rig human` times rig 3.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--sample", type=int, default=0, help="also time sampling N faces")
    parser.add_argument("--rig", choices=("reference", "human"), default="reference")
    args = parser.parse_args()

    from facefit.rig.choice import make_renderer, rig_spec

    spec = rig_spec(args.rig)
    renderer = make_renderer(args.size, args.rig)
    rng = np.random.default_rng(0)
    renderer.render(spec.mean_vector())
    times = []
    for _ in range(args.n):
        vec = spec.random_vector(rng)
        start = time.perf_counter()
        renderer.render(vec)
        times.append(time.perf_counter() - start)
    result = {
        "rig": spec.rig_id,
        "size": args.size,
        "render_ms_median": round(1000 * float(np.median(times)), 1),
        "render_ms_p90": round(1000 * float(np.percentile(times, 90)), 1),
    }
    if args.sample:
        from facefit.rig.sampling import sample_dataset

        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            sample_dataset(tmp, args.sample, seed=0, size=256, shard_size=50, rig=args.rig)
            seconds = time.perf_counter() - start
        result["sample_256_per_s"] = round(args.sample / seconds, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
