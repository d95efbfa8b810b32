"""Training the descriptor imitator (`facefit.nets.descriptor`) on real renders.

Seeds: the training folds' photos fitted by `fast` and by `full` without the recognition step,
so each seed is a vector as the step receives it. Samples: a seed with half of its continuous
controls moved (normal, sd `SPREAD`), half the time another seed's colours (every control
`facefit.fit.identity.is_shape_control` calls appearance), and each option
group redrawn one time in five; each is drawn at the aligned frame's side and read by dlib
exactly as the step reads a render (`placed_descriptor`). Samples are drawn in chunks saved as
they finish, so an interrupted run resumes, and `--part K/N` lets N processes share them.
Validation: the seeds of the held-out fold's photos, which no sample came from, read the same
way: the share of their descriptors' variance explained, and the median distance to dlib's
reading against the median distance between faces.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facefit.errors import ModelError
from facefit.fit.identity import is_shape_control
from facefit.nets.descriptor import (
    DEFAULT_CONFIG,
    NETWORK,
    DescriptorConfig,
    DescriptorImitator,
)

logger = logging.getLogger(__name__)

SAMPLES = 12000
CHUNK = 500  # samples per saved chunk
SPREAD = 0.12  # sd of a moved control
SEED = 7
STEPS = 4000
BATCH = 256
LR = 2e-3
SEED_MODES = ("fast", "full")


def fitted_seeds(work: Path, weights: Path) -> dict[str, np.ndarray]:
    """The shared photos fitted by the networks in `weights` without the recognition step
    (cached in `work/seeds.npz`): vectors (N, D), whether each photo's person is in the
    held-out fold (N,), and, for the held-out ones, dlib's reading of their renders."""
    from dataclasses import replace

    from facefit.fit.fitter import load_fitter
    from facefit.settings import CoreSettings

    fitter = load_fitter(replace(CoreSettings.from_env(), weights_dir=Path(weights)))
    # the seeds and every sample drawn near them belong to these networks and this rig
    models = {k: v for k, v in sorted(fitter.networks.models.items()) if NETWORK not in k}
    made_by = json.dumps({"rig": fitter.spec.rig_id, "models": models})
    path = work / "seeds.npz"
    if path.exists():
        seeds = dict(np.load(path))
        if str(seeds.pop("made_by", None)) != made_by:
            raise ModelError(
                f"{work} holds samples of other networks or another rig: remove it, or pass "
                "another --work folder"
            )
        return seeds
    from facefit.data.faces import fold_identities, read_manifest
    from facefit.errors import FacefitError

    held = fold_identities(0)
    vectors, heldout = [], []
    for record in read_manifest():
        data = record.image.read_bytes()
        for mode in SEED_MODES:
            try:
                result = fitter.fit_photo(data, mode=mode, w_recognition=0.0)
            except FacefitError as exc:
                logger.info("%s: %s, no seed", record.name, exc.code)
                continue
            vectors.append(fitter.spec.encode(result.params))
            heldout.append(record.identity in held)
    seeds = {"vectors": np.array(vectors, np.float32), "heldout": np.array(heldout)}
    seeds["heldout_descriptors"] = read_renders(seeds["vectors"][seeds["heldout"]])
    work.mkdir(parents=True, exist_ok=True)
    np.savez(path, made_by=np.array(made_by), **seeds)
    logger.info("%d seeds, %d of them held out", len(vectors), int(seeds["heldout"].sum()))
    return seeds


def read_renders(vectors: np.ndarray) -> np.ndarray:
    """(N, 128) dlib's descriptor of each vector's real render, read as the fit reads it."""
    from facefit.fit.recognition import rendered_descriptors
    from facefit.rig.choice import make_renderer
    from facefit.rig.reference import REFERENCE_SIZE

    return rendered_descriptors(vectors, make_renderer(REFERENCE_SIZE))


def perturbed(seeds: np.ndarray, spec, rng: np.random.Generator) -> np.ndarray:
    """One sample near the seeds (see the module's docstring)."""
    c = spec.continuous_size
    vector = seeds[rng.integers(len(seeds))].copy()
    moved = rng.random(c) < 0.5
    vector[:c] = np.clip(vector[:c] + moved * rng.normal(0.0, SPREAD, c), 0.0, 1.0)
    if rng.random() < 0.5:
        colors = [i for i, control in enumerate(spec.continuous) if not is_shape_control(control)]
        vector[colors] = seeds[rng.integers(len(seeds))][colors]
    for block in spec.discrete_slices.values():
        if rng.random() < 0.2:
            vector[block] = 0.0
            vector[block.start + int(rng.integers(block.stop - block.start))] = 1.0
    return vector


def draw_chunks(work: Path, seeds: np.ndarray, samples: int, part: tuple[int, int]) -> None:
    """Draw and read this part's missing chunks of samples (`work/chunk-XXXX.npz`)."""
    from facefit.rig.spec import load_spec

    spec = load_spec()
    chunks = range(part[0], -(-samples // CHUNK), part[1])
    for k in chunks:
        path = work / f"chunk-{k:04d}.npz"
        if path.exists():
            continue
        t0 = time.perf_counter()
        rng = np.random.default_rng([SEED, k])
        vectors = np.stack([perturbed(seeds, spec, rng) for _ in range(CHUNK)])
        descriptors = read_renders(vectors)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, vectors=vectors, descriptors=descriptors)
        tmp.replace(path)
        logger.info("chunk %d drawn in %.0f s", k, time.perf_counter() - t0)


def fit_network(
    vectors: np.ndarray, descriptors: np.ndarray, steps: int = STEPS, seed: int = SEED
) -> DescriptorImitator:
    """The MLP fitted to the samples (squared distance, AdamW, a one-cycle schedule)."""
    torch.manual_seed(seed)
    model = DescriptorImitator(DescriptorConfig(vector_size=vectors.shape[1]))
    x = torch.as_tensor(vectors, dtype=torch.float32)
    y = torch.as_tensor(descriptors, dtype=torch.float32)
    model.mean.copy_(y.mean(dim=0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LR, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(0, len(x), (BATCH,), generator=generator)
        loss = ((model(x[index]) - y[index]) ** 2).sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def agreement(model: DescriptorImitator, vectors: np.ndarray, truth: np.ndarray) -> dict:
    """How close the network's descriptors are to dlib's readings of the same renders."""
    predicted = model.describe(torch.as_tensor(vectors))
    centre = truth.mean(axis=0)
    unexplained = ((predicted - truth) ** 2).sum() / ((truth - centre) ** 2).sum()
    apart = np.linalg.norm(truth[:, None] - truth[None], axis=2)[np.triu_indices(len(truth), 1)]
    return {
        "faces": len(truth),
        "variance_explained": round(float(1.0 - unexplained), 4),
        "median_error": round(float(np.median(np.linalg.norm(predicted - truth, axis=1))), 4),
        "median_distance_between_faces": round(float(np.median(apart)), 4),
    }


def train_descriptor(
    out: Path, work: Path, samples: int = SAMPLES, part: tuple[int, int] = (0, 1)
) -> dict[str, Any] | None:
    """Seeds, this part's samples, then (once every part's are drawn) the network, written to
    `out`; returns its validation, or None while other parts' chunks are missing."""
    from facefit.rig.spec import load_spec

    t0 = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    seeds = fitted_seeds(work, out)
    training_seeds = seeds["vectors"][~seeds["heldout"]]
    draw_chunks(work, training_seeds, samples, part)
    paths = [work / f"chunk-{k:04d}.npz" for k in range(-(-samples // CHUNK))]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        logger.info(
            "waiting for %d chunks of other parts: run again once they are drawn", len(missing)
        )
        return None
    chunks = [np.load(p) for p in paths]
    vectors = np.concatenate([c["vectors"] for c in chunks])
    descriptors = np.concatenate([c["descriptors"] for c in chunks])
    model = fit_network(vectors, descriptors)
    validation = {
        "heldout_photos": agreement(
            model, seeds["vectors"][seeds["heldout"]], seeds["heldout_descriptors"]
        ),
    }
    logger.info("descriptor imitator: %s", validation)
    from facefit.nets.weights import save_weights, weights_name

    spec = load_spec()
    save_weights(
        Path(out) / weights_name(NETWORK, DEFAULT_CONFIG),
        network=NETWORK,
        config_name=DEFAULT_CONFIG,
        config=asdict(model.cfg),
        rig=spec.rig_id,
        layout={"vector_size": spec.vector_size},
        state_dict=model.state_dict(),
        provenance={
            "data": {
                "renders": "real rig near fitted faces, dlib_face_recognition_resnet_model_v1",
                "seeds": f"shared photos outside the held-out fold, {' and '.join(SEED_MODES)}",
                "samples": len(vectors),
            },
            "train_config": {
                "spread": SPREAD,
                "steps": STEPS,
                "batch": BATCH,
                "lr": LR,
                "seed": SEED,
            },
            "seconds": round(time.perf_counter() - t0, 1),
            "validation": validation,
        },
    )
    return validation
