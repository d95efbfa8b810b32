"""Training sets drawn uniformly from the rig (patent §0077), rendered in parallel into shards.

Shard i always holds the same samples for a given seed (its generator is seeded with
(seed, i)), so an interrupted run resumes by skipping finished shards.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facefit.rig import shards
from facefit.rig.choice import rig_name, rig_spec

log = logging.getLogger(__name__)

_RENDERER = None  # one per worker process


@dataclass(frozen=True)
class SampleJob:
    """One shard to render."""

    root: str
    index: int
    n: int
    seed: int
    size: int
    rig: str = "reference"


def _init_worker(size: int, rig: str) -> None:
    # one rasterizer thread per worker: the workers already use every core
    os.environ.setdefault("LP_NUM_THREADS", "1")
    global _RENDERER
    from facefit.rig.choice import make_renderer

    _RENDERER = make_renderer(size, rig)


def render_shard(job: SampleJob) -> tuple[str, int]:
    """Render and write one shard; returns (name, n)."""
    spec = rig_spec(job.rig)
    rng = np.random.default_rng([job.seed, job.index])
    name = shards.shard_name(job.index)
    writer = shards.ShardWriter(job.root, name, job.size, spec.vector_size)
    for _ in range(job.n):
        vec = spec.random_vector(rng)
        out = _RENDERER.render(vec)
        writer.add(vec, out.image, out.labels, out.landmarks68)
    writer.close()
    return name, job.n


def sample_dataset(
    root: str | Path,
    n: int,
    seed: int = 0,
    size: int = 256,
    shard_size: int = 200,
    workers: int | None = None,
    resume: bool = False,
    on_progress: Callable[[int], None] | None = None,
    rig: str | None = None,
) -> shards.ShardFolderMeta:
    """Render `n` uniform random faces of `rig` (`facefit.rig.choice`) into shards under `root`.

    `on_progress(k)` is called per finished shard.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rig = rig_name(rig)
    spec = rig_spec(rig)
    counts = [min(shard_size, n - start) for start in range(0, n, shard_size)]
    jobs = [SampleJob(str(root), i, c, seed, size, rig) for i, c in enumerate(counts)]
    meta = shards.ShardFolderMeta(
        rig=spec.rig_id,
        size=size,
        vector_size=spec.vector_size,
        labels=spec.labels,
        shards=tuple((shards.shard_name(j.index), j.n) for j in jobs),
        spec=spec.to_json(),
    )
    if resume and (root / shards.META).exists():
        old = shards.read_meta(root)
        if (old.rig, old.size, old.shards) != (meta.rig, meta.size, meta.shards):
            from facefit.errors import FacefitError

            raise FacefitError(
                f"{root} holds a different sample set ({old.rig}, {old.size} px, {old.n} samples); "
                "use another folder",
                code="BAD_DATA",
            )
    todo = [
        j
        for j in jobs
        if not (resume and shards.shard_complete(root, shards.shard_name(j.index), j.n))
    ]
    done = len(jobs) - len(todo)
    if done:
        log.info("resuming: %d of %d shards already complete", done, len(jobs))
        if on_progress:
            on_progress(sum(j.n for j in jobs) - sum(j.n for j in todo))
    shards.write_meta(root, meta)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    if todo:
        ctx = mp.get_context("spawn")  # a fresh process per worker: no GL state crosses a fork
        with ctx.Pool(workers, initializer=_init_worker, initargs=(size, rig)) as pool:
            for _, k in pool.imap_unordered(render_shard, todo):
                if on_progress:
                    on_progress(k)
    return meta
