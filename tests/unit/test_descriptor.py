"""The descriptor imitator (`facefit.nets.descriptor`): its samples, its training, its
shipped weights against dlib's own reading of real renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facefit.errors import ModelError
from facefit.likeness.descriptors import placed_descriptor
from facefit.nets.descriptor import load_descriptor_imitator
from facefit.settings import RIG_WEIGHTS
from facefit.train import descriptor as training

SHIPPED = RIG_WEIGHTS["human"] / "descriptor-mlp.pt"


@pytest.fixture(autouse=True)
def rig_3(monkeypatch):
    monkeypatch.setenv("FACEFIT_RIG", "human")


def test_samples_stay_on_the_rig_one_option_per_group():
    from facefit.rig.spec import load_spec

    spec, rng = load_spec(), np.random.default_rng(0)
    seeds = np.stack([spec.mean_vector(), spec.random_vector(rng)])
    for _ in range(50):
        sample = training.perturbed(seeds, spec, rng)
        assert (
            sample[: spec.continuous_size].min() >= 0 and sample[: spec.continuous_size].max() <= 1
        )
        for block in spec.discrete_slices.values():
            assert sorted(sample[block]) == [0.0] * (block.stop - block.start - 1) + [1.0]


def test_the_network_learns_a_smooth_mapping_and_agreement_says_how_well():
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(12, 128)) / 4
    vectors = rng.random((3000, 12)).astype(np.float32)
    descriptors = np.tanh(vectors @ mixing) + 0.1
    model = training.fit_network(vectors[:2500], descriptors[:2500], steps=1500)
    held = training.agreement(model, vectors[2500:], descriptors[2500:])
    assert held["variance_explained"] > 0.9
    assert held["median_error"] < 0.3 * held["median_distance_between_faces"]
    untrained = training.fit_network(vectors[:2500], descriptors[:2500], steps=1)
    assert (
        training.agreement(untrained, vectors[2500:], descriptors[2500:])["variance_explained"]
        < 0.5
    )


def test_chunks_are_shared_by_parts_and_never_drawn_twice(tmp_path, monkeypatch):
    from facefit.rig.spec import load_spec

    spec = load_spec()
    monkeypatch.setattr(training, "CHUNK", 2)
    seeds = np.stack([spec.mean_vector(), spec.random_vector(np.random.default_rng(2))])
    training.draw_chunks(tmp_path, seeds, samples=4, part=(1, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk-0001.npz"]
    chunk = np.load(tmp_path / "chunk-0001.npz")
    assert chunk["vectors"].shape == (2, spec.vector_size)
    assert chunk["descriptors"].shape == (2, 128)
    before = (tmp_path / "chunk-0001.npz").stat().st_mtime_ns
    training.draw_chunks(tmp_path, seeds, samples=4, part=(0, 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk-0000.npz", "chunk-0001.npz"]
    assert (tmp_path / "chunk-0001.npz").stat().st_mtime_ns == before  # kept, not redrawn
    # each sample's descriptor is dlib's reading of its real render, as the fit reads one
    from facefit.rig.choice import make_renderer

    render = make_renderer(512).render(chunk["vectors"][0])
    np.testing.assert_allclose(
        chunk["descriptors"][0], placed_descriptor(render.image, render.landmarks68), atol=1e-6
    )


@pytest.mark.skipif(not SHIPPED.exists(), reason=f"{SHIPPED} is not committed")
def test_the_shipped_imitator_reads_rig_faces_near_dlibs_reading_of_their_renders():
    """On rig faces it never saw (women and men of the mean face's other controls, their
    shape moved), the imitator's descriptor is nearer dlib's reading of the render than the
    faces are to one another."""
    from facefit.fit.shape import shape_controls
    from facefit.rig.choice import make_renderer
    from facefit.rig.spec import load_spec

    spec = load_spec()
    model = load_descriptor_imitator(SHIPPED, spec.rig_id)
    renderer, rng = make_renderer(512), np.random.default_rng(3)
    shape = shape_controls(spec)
    vectors, seen = [], []
    for k in range(6):
        vector = spec.mean_vector()
        vector[spec.continuous_index["sex"]] = k % 2
        vector[shape] = np.clip(0.5 + rng.normal(0, 0.15, len(shape)), 0, 1)
        render = renderer.render(vector)
        vectors.append(vector)
        seen.append(placed_descriptor(render.image, render.landmarks68))
    vectors, seen = np.stack(vectors), np.stack(seen)
    predicted = model.describe(torch.as_tensor(vectors))
    errors = np.linalg.norm(predicted - seen, axis=1)
    apart = np.linalg.norm(seen[:, None] - seen[None], axis=2)[np.triu_indices(6, 1)]
    assert np.median(errors) < 0.6 * np.median(apart)


def test_another_rigs_imitator_is_refused():
    if not SHIPPED.exists():
        pytest.skip(f"{SHIPPED} is not committed")
    with pytest.raises(ModelError, match="trained for rig"):
        load_descriptor_imitator(SHIPPED, "facefit-reference/2.2")


def test_samples_of_other_networks_are_refused(tmp_path):
    """A work folder's seeds were fitted by some networks: other networks must not train on
    them (a studio's retrained ones, say)."""
    from tests.tiny_weights import write_tiny_weights

    weights = write_tiny_weights(tmp_path / "weights")
    work = tmp_path / "work"
    work.mkdir()
    np.savez(work / "seeds.npz", made_by=np.array('{"rig": "another"}'), vectors=np.zeros((1, 3)))
    with pytest.raises(ModelError, match="other networks"):
        training.fitted_seeds(work, weights)
