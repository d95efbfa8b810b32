"""The parameter search on tiny real networks: it descends, stays in range, stops early."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from facefit.fit import FitConfig, ParamLayout, ParamState
from facefit.fit.optimize import lr_at, photo_targets, search, temperature_at
from facefit.nets.extractor import build_extractor
from facefit.nets.imitator import build_imitator

LABELS = [
    "background", "skin", "hair", "left_brow", "right_brow", "left_eye", "right_eye",
    "nose", "upper_lip", "inner_mouth", "lower_lip",
]  # fmt: skip
LAYOUT = ParamLayout(continuous_size=6, discrete_slices=(("hair", 6, 9), ("brow", 9, 11)))


def _setup(batch: int = 2):
    torch.manual_seed(0)
    imitator = build_imitator("tiny", LAYOUT.vector_size).eval()
    extractor = build_extractor("tiny", len(LABELS)).eval()
    true = torch.cat(
        [torch.rand(batch, 6), torch.eye(3)[[1] * batch], torch.eye(2)[[1] * batch]], 1
    )
    with torch.no_grad():
        image, landmarks = imitator(true)
    targets = photo_targets(extractor, image.clamp(0, 1), landmarks, LABELS, extractor_size=32)
    init = torch.cat(
        [torch.full((batch, 6), 0.5), torch.eye(3)[[0] * batch], torch.eye(2)[[0] * batch]], 1
    )
    return imitator, extractor, targets, init


def test_schedules_are_bounded():
    cfg = FitConfig(max_iters=20)
    lrs = [lr_at(s, cfg) for s in range(20)]
    assert max(lrs) <= cfg.lr and min(lrs) > 0
    temps = [temperature_at(s, cfg) for s in range(20)]
    assert temps[0] == cfg.temperature_start and abs(temps[-1] - cfg.temperature_end) < 1e-9


def test_param_state_stays_in_unit_range_and_projects_to_one_hot():
    init = torch.tensor([[0.0, 1.0, 0.5, 0.2, 0.9, 0.5, 1, 0, 0, 0, 1]])
    state = ParamState(LAYOUT, init)
    with torch.no_grad():
        state.z.add_(100.0)
    vec = state.projected()
    assert bool(((vec >= 0) & (vec <= 1)).all())
    assert vec[0, 6:9].tolist() == [1.0, 0.0, 0.0] and vec[0, 9:11].tolist() == [0.0, 1.0]


def test_search_reduces_the_loss_and_reports_each_step():
    imitator, extractor, targets, init = _setup()
    steps = []
    cfg = FitConfig(max_iters=25, threshold=1.0, lr=0.2)
    result = search(
        imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32,
        on_step=lambda i, loss, sim: steps.append((i, loss, sim)),
    )  # fmt: skip
    assert [s[0] for s in steps] == list(range(26))
    for history in result.history:
        assert history[-1][1] < 0.7 * history[0][1]
    assert result.vectors.shape == init.shape
    assert all(0.0 <= s <= 1.0 for s in result.similarities)
    assert result.stopped_early == [False, False]


def test_search_stops_each_face_at_the_threshold_and_freezes_it():
    imitator, extractor, targets, init = _setup()
    cfg = FitConfig(max_iters=30, threshold=0.0)  # every face passes at once
    result = search(imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32)
    assert result.iterations == [0, 0]
    assert result.stopped_early == [True, True]
    assert torch.allclose(result.vectors[:, :6], init[:, :6], atol=1e-3)


def test_a_search_of_no_iterations_judges_and_draws_the_answer_it_returns():
    from facefit.fit.optimize import loss_terms, total_loss

    imitator, extractor, targets, init = _setup()
    cfg = FitConfig(max_iters=0)
    result = search(imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32)
    with torch.no_grad():
        image, landmarks = imitator(result.vectors)
        terms = loss_terms(
            extractor, image, landmarks, result.vectors, targets, LABELS, 32, LAYOUT.continuous_size
        )
        expected = total_loss(terms, cfg)
    # the one-hot answer, not the softened start, is what the loss and the image are of
    assert torch.allclose(torch.tensor(result.losses), expected, atol=1e-5)
    assert result.images is not None and torch.allclose(result.images, image, atol=1e-6)
    # with iterations the last judged image is of a relaxed vector: none is handed back
    assert (
        search(
            imitator, extractor, targets, init, LAYOUT, LABELS, FitConfig(max_iters=2), 32
        ).images
        is None
    )


def test_a_fixed_group_keeps_its_start_while_the_others_move():
    imitator, extractor, targets, init = _setup()
    cfg = FitConfig(max_iters=10, threshold=1.0, lr=0.5)
    free = search(imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32)
    fixed = search(
        imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32, fixed_groups=("brow",)
    )
    # the same start: the brow's logits never change when fixed, and both runs move the rest
    assert not torch.allclose(free.discrete_probabilities[1], fixed.discrete_probabilities[1])
    assert torch.allclose(fixed.discrete_probabilities[1], torch.softmax(init[:, 9:11] * 3, 1))
    assert not torch.allclose(fixed.vectors[:, :6], init[:, :6], atol=1e-3)


def test_a_step_scale_moves_each_control_in_proportion():
    """Scale 0 holds a control at its start, scale 1 is the plain search, and a half scale
    halves the first update (Adam's first step does not depend on the gradient's size)."""
    imitator, extractor, targets, init = _setup()
    cfg = FitConfig(max_iters=1, threshold=1.0, lr=0.5, lr_warmup=0.0)
    plain = search(imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32)
    scale = torch.tensor([0.0, 0.5, 1.0, 1.0, 1.0, 1.0])
    scaled = search(imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32, step_scale=scale)

    def logits(result):
        return torch.logit(result.vectors[:, :6].clamp(1e-6, 1 - 1e-6))

    start = torch.logit(init[:, :6])
    assert torch.allclose(scaled.vectors[:, 0], init[:, 0])
    moved = logits(plain) - start
    assert bool((moved.abs() > 1e-3).all())
    assert torch.allclose(logits(scaled)[:, 1] - start[:, 1], moved[:, 1] / 2, atol=1e-4)
    assert torch.allclose(scaled.vectors[:, 2:], plain.vectors[:, 2:])


def test_an_anchored_search_searches_the_game_where_the_imitator_is_wrong():
    imitator, extractor, _, init = _setup()
    # The "game" draws what the imitator draws plus a fixed pattern the imitator never
    # learned, and its landmarks sit a little lower.
    pattern = 0.3 * torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))

    class Game(torch.nn.Module):
        def forward(self, vectors):
            image, landmarks = imitator(vectors)
            return image + pattern, landmarks + 0.05

    game = Game()
    true = torch.cat([torch.rand(2, 6), torch.eye(3)[[1, 1]], torch.eye(2)[[1, 1]]], 1)
    with torch.no_grad():
        image, landmarks = game(true)
    targets = photo_targets(extractor, image, landmarks, LABELS, extractor_size=32)
    calls = []

    def anchor(vectors):
        calls.append(vectors.shape[0])
        with torch.no_grad():
            return game(vectors)

    plain_cfg = FitConfig(max_iters=12, threshold=1.0, lr=0.2)
    cfg = replace(plain_cfg, anchor_every=4)
    anchored = search(imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32, anchor=anchor)
    assert calls == [2, 2, 2]  # before the first update, after the 4th and the 8th, not the last
    # The correction is exact here, so the search is the one a differentiable game would run.
    on_game = search(game, extractor, targets, init, LAYOUT, LABELS, plain_cfg, 32)
    plain = search(imitator, extractor, targets, init, LAYOUT, LABELS, plain_cfg, 32)
    assert torch.allclose(anchored.vectors, on_game.vectors, atol=1e-5)
    assert anchored.losses == pytest.approx(on_game.losses, rel=1e-5)
    assert not torch.allclose(plain.vectors, on_game.vectors, atol=1e-3)
    # with anchor_every 0 the anchor is never asked
    search(imitator, extractor, targets, init, LAYOUT, LABELS, plain_cfg, 32, anchor=anchor)
    assert len(calls) == 3


def test_an_anchored_search_renders_only_the_faces_still_running():
    imitator, extractor, targets, init = _setup()
    calls = []

    def anchor(vectors):
        calls.append(vectors.shape[0])
        with torch.no_grad():
            return imitator(vectors)

    cfg = FitConfig(max_iters=6, threshold=0.0, anchor_every=2)  # every face passes at once
    result = search(imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32, anchor=anchor)
    assert result.iterations == [0, 0] and calls == [2]
