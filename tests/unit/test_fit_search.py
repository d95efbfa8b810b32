"""The search stage on tiny real networks: it descends, stays in range, stops early."""

from __future__ import annotations

import torch

from facefit.fit import FitConfig
from facefit.fit.params import ParamLayout, ParamState
from facefit.fit.search import (
    TEMPERATURE_END,
    TEMPERATURE_START,
    lr_at,
    photo_targets,
    search,
    temperature_at,
)
from facefit.nets.extractor import build_extractor
from facefit.nets.imitator import build_imitator

LABELS = [
    "background", "skin", "hair", "left_brow", "right_brow", "left_eye", "right_eye",
    "nose", "upper_lip", "inner_mouth", "lower_lip",
]  # fmt: skip
LOSS_SCALE = 1.688  # similarity = exp(-loss / LOSS_SCALE)
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


def run(imitator, extractor, targets, init, cfg: FitConfig, **options):
    """The search on the test's layout, labels, extractor size and loss scale."""
    return search(
        imitator, extractor, targets, init, LAYOUT, LABELS, cfg, 32, LOSS_SCALE, **options
    )


def test_schedules_are_bounded():
    cfg = FitConfig(max_iters=20)
    lrs = [lr_at(s, cfg) for s in range(20)]
    assert max(lrs) <= cfg.lr and min(lrs) > 0
    temps = [temperature_at(s, cfg) for s in range(20)]
    assert temps[0] == TEMPERATURE_START and abs(temps[-1] - TEMPERATURE_END) < 1e-9


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
    result = run(
        imitator, extractor, targets, init, cfg,
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
    result = run(imitator, extractor, targets, init, cfg)
    assert result.iterations == [0, 0]
    assert result.stopped_early == [True, True]
    assert torch.allclose(result.vectors[:, :6], init[:, :6], atol=1e-3)


def test_a_search_of_no_iterations_judges_the_answer_it_returns():
    from facefit.fit.search import loss_terms, total_loss

    imitator, extractor, targets, init = _setup()
    cfg = FitConfig(max_iters=0)
    result = run(imitator, extractor, targets, init, cfg)
    with torch.no_grad():
        image, landmarks = imitator(result.vectors)
        terms = loss_terms(
            extractor, image, landmarks, result.vectors, targets, LABELS, 32, LAYOUT.continuous_size
        )
        expected = total_loss(terms, cfg)
    # the one-hot answer, not the softened start, is what the loss is of
    assert torch.allclose(torch.tensor(result.losses), expected, atol=1e-5)


def test_fasts_unjudged_answer_is_the_projected_start_with_no_loss():
    from facefit.fit.search import unjudged

    imitator, extractor, targets, init = _setup()
    judged = run(imitator, extractor, targets, init, FitConfig(max_iters=0))
    result = unjudged(init, LAYOUT)
    assert torch.equal(result.vectors, judged.vectors)
    assert result.losses == [None, None] and result.similarities == [None, None]
    assert result.iterations == [0, 0] and result.history == [[], []]
    pairs = zip(result.discrete_probabilities, judged.discrete_probabilities, strict=True)
    for ours, theirs in pairs:
        assert torch.equal(ours, theirs)


def test_a_fixed_group_keeps_its_start_while_the_others_move():
    imitator, extractor, targets, init = _setup()
    cfg = FitConfig(max_iters=10, threshold=1.0, lr=0.5)
    free = run(imitator, extractor, targets, init, cfg)
    fixed = run(
        imitator,
        extractor,
        targets,
        init,
        cfg,
        fixed_groups=("brow",),
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
    plain = run(imitator, extractor, targets, init, cfg)
    scale = torch.tensor([0.0, 0.5, 1.0, 1.0, 1.0, 1.0])
    scaled = run(imitator, extractor, targets, init, cfg, step_scale=scale)

    def logits(result):
        return torch.logit(result.vectors[:, :6].clamp(1e-6, 1 - 1e-6))

    start = torch.logit(init[:, :6])
    assert torch.allclose(scaled.vectors[:, 0], init[:, 0])
    moved = logits(plain) - start
    assert bool((moved.abs() > 1e-3).all())
    assert torch.allclose(logits(scaled)[:, 1] - start[:, 1], moved[:, 1] / 2, atol=1e-4)
    assert torch.allclose(scaled.vectors[:, 2:], plain.vectors[:, 2:])
