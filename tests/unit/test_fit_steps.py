"""The post-search steps on the real rig (tiny networks): options, outlines, beard, colours.

Each step is a function from parameter vectors to parameter vectors; these tests give each
one a photo whose answer is known and check what it keeps and what it leaves, and how the
options it drew rank for the editor (`facefit.fit.runner_ups`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facefit.fit.beard import (
    CHIN_LIGHTNESS,
    beard_chins,
    match_beard_density,
    shave_clean_chins,
    with_chin_density,
)
from facefit.fit.colors import lab, match_colors
from facefit.fit.config import FitConfig
from facefit.fit.evaluate import synthetic_face
from facefit.fit.fitter import load_fitter
from facefit.fit.losses import COLOR_REGIONS
from facefit.fit.options import check_options
from facefit.fit.outline import choose_outlines, outline_disagreement
from facefit.fit.real_rig import with_option
from facefit.fit.runner_ups import OptionEvidence
from facefit.fit.skin_regions import chin_minus_cheek_lightness
from facefit.settings import CoreSettings
from tests.tiny_weights import tiny_weights_dir

PHOTO = Path(__file__).parent.parent / "fixtures" / "faces" / "london_001_neutral.jpg"


@pytest.fixture(scope="module")
def fitter():
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=tiny_weights_dir())
    return load_fitter(settings, FitConfig(max_iters=3, threshold=1.0))


@pytest.fixture(scope="module")
def photo_targets(fitter):
    """The aligned test photo and its loss targets."""
    from facefit.align import align_photo, load_photo

    face = align_photo(load_photo(PHOTO.read_bytes()))
    return face, fitter.targets_of([face])[1]


def sure_of(vector: torch.Tensor, fitter) -> list[torch.Tensor]:
    """The search's soft choices, certain of `vector`'s options: no runner-up is tried."""
    return [vector[None, start:stop] for _, start, stop in fitter.layout.discrete_slices]


def real_loss(fitter, vector: torch.Tensor, targets) -> float:
    return fitter.rig.loss(vector[None], [fitter.rig.render(vector)], targets, fitter.config)[0]


def test_the_options_check_keeps_the_default_option_when_the_game_render_prefers_it(
    fitter, photo_targets
):
    _, targets = photo_targets
    spec = fitter.spec
    chosen = torch.as_tensor(spec.encode({"discrete": {"hairstyle": spec.discrete[0].options[3]}}))
    default = torch.as_tensor(spec.mean_vector())
    cfg = replace(fitter.config, mode="full")
    losses = [real_loss(fitter, v, targets) for v in (chosen, default)]
    rendered = []
    render = fitter.rig._renderer.render

    def recording_render(vec):
        rendered.append(vec.copy())
        return render(vec)

    fitter.rig.forget()
    fitter.rig._renderer.render = recording_render
    try:
        vectors = check_options(
            chosen[None].clone(), sure_of(chosen, fitter), targets, fitter.rig, fitter.layout, cfg
        )
    finally:
        fitter.rig._renderer.render = render
    # the choice and the default were both rendered, and the better one kept
    assert [np.array_equal(v, chosen.numpy()) for v in rendered] == [True, False]
    assert np.array_equal(rendered[1], default.numpy())
    expected = default if losses[1] < losses[0] else chosen
    assert torch.equal(vectors[0], expected)
    assert real_loss(fitter, vectors[0], targets) == pytest.approx(min(losses))
    # with a margin the default wins unless the choice is clearly better
    margin = replace(cfg, default_margin=0.99)
    vectors = check_options(
        chosen[None].clone(), sure_of(chosen, fitter), targets, fitter.rig, fitter.layout, margin
    )
    assert torch.equal(vectors[0], default)
    assert real_loss(fitter, vectors[0], targets) == pytest.approx(losses[1])
    # ... but only in the groups it is set for: elsewhere the confident choice stands as is
    beards_only = replace(margin, default_margin_groups=("facial_hair",))
    vectors = check_options(
        chosen[None].clone(), sure_of(chosen, fitter), targets, fitter.rig, fitter.layout,
        beards_only,
    )  # fmt: skip
    assert torch.equal(vectors[0], chosen)
    assert real_loss(fitter, vectors[0], targets) == pytest.approx(losses[0])


def test_fast_runs_no_post_search_step(fitter):
    """`fast` is the start as is (the result renders it once, to score it)."""
    assert fitter._steps(replace(fitter.config, mode="fast"), None, None, [None], ()) == []


def test_fast_outlines_are_drawn_once_on_the_average_face(fitter):
    """Where a rig asks for them (`fast_outlines`), `fast` is the start with its hairstyle
    chosen by outline, each option drawn once on the average face: the second photo's choice
    draws nothing."""
    cfg = replace(fitter.config, mode="fast", fast_outlines=True)
    (step,) = fitter._steps(cfg, None, parsed_as_drawn(fitter, "long_straight"), [None], ())
    start = torch.as_tensor(fitter.spec.mean_vector())[None]
    chosen = fitter.spec.decode(step(start)[0].numpy())["discrete"]["hairstyle"]
    assert chosen == "long_straight"
    drawn = len(fitter.rig.average_outlines)
    step(start)
    assert len(fitter.rig.average_outlines) == drawn


def parsed_as_drawn(fitter, style: str) -> SimpleNamespace:
    """Targets of a photo parsed exactly as the rig draws the average face with `style`."""
    spec, labels = fitter.spec, fitter.labels
    size = fitter.networks.extractor_size
    drawn = fitter.rig.render(spec.encode({"discrete": {"hairstyle": style}}))
    one_hot = F.one_hot(torch.as_tensor(drawn.labels, dtype=torch.long), len(labels))
    probs = F.interpolate(one_hot.permute(2, 0, 1)[None].float(), size=(size, size), mode="area")
    return SimpleNamespace(probs=probs)


def test_silhouette_choice_picks_the_hairstyle_whose_outline_the_photo_shows(fitter):
    """A photo parsed exactly as the rig draws one hairstyle gets that hairstyle back."""
    spec = fitter.spec
    start = dict((g, s) for g, s, _ in fitter.layout.discrete_slices)["hairstyle"]
    groups = (("hairstyle", "hair"),)
    for style in ("buzz_cut", "long_straight", "top_bun", "bald"):
        start_face = torch.as_tensor(spec.mean_vector())[None]  # option 0: short crop
        photo = parsed_as_drawn(fitter, style)
        chosen = choose_outlines(start_face, photo, fitter.rig, spec, groups, margin=0.0)
        assert spec.decode(chosen[0].numpy())["discrete"]["hairstyle"] == style
        assert torch.equal(chosen[0, :start], start_face[0, :start])  # the rest is kept
        if style == "top_bun":  # a bun on the short crop: a small difference of outline
            # the searched option stays unless another outline is better by the margin
            kept = choose_outlines(start_face, photo, fitter.rig, spec, groups, margin=0.9)
            assert torch.equal(kept, start_face)


def test_the_editor_offers_the_hairstyles_nearest_in_outline_first(fitter):
    """After the style whose outline the photo shows: long hair beside long hair, a buzz cut
    beside a bald head, and to long hair no hair at all last; every style once."""
    spec = fitter.spec
    styles = spec.discrete[0].options
    start_face = torch.as_tensor(spec.mean_vector())[None]
    block = spec.discrete_slices["hairstyle"]
    offered = {}
    for style in ("long_straight", "bald"):
        evidence = OptionEvidence(1)
        chosen = choose_outlines(
            start_face, parsed_as_drawn(fitter, style), fitter.rig, spec,
            (("hairstyle", "hair"),), margin=0.0, evidence=evidence,
        )  # fmt: skip
        choice = int(chosen[0, block].argmax())
        order = evidence.ranking(0, "hairstyle", choice, torch.zeros(len(styles)))
        offered[style] = [styles[o] for o in order]
        assert sorted(offered[style]) == sorted(styles)
    assert offered["long_straight"][:2] == ["long_straight", "shoulder_length"]
    assert offered["long_straight"][-1] == "bald"
    assert offered["bald"][:2] == ["bald", "buzz_cut"]


def test_the_ranking_is_the_choice_then_what_was_drawn_then_the_soft_choice():
    evidence = OptionEvidence(2)
    for option, score in ((3, 0.5), (1, 0.2), (0, 0.9)):
        evidence.drawn(0, "group", option, score)
    searched = torch.tensor([0.1, 0.05, 0.3, 0.05, 0.5])
    # the choice first (a margin kept it although option 1 drew better), then the drawn
    # options by their score, then the others by the search's soft choice
    assert evidence.ranking(0, "group", 0, searched) == [0, 1, 3, 4, 2]
    assert evidence.ranking(1, "group", 2, searched) == [2, 4, 0, 1, 3]  # nothing drawn
    # where a detail reader owns the group, its reading orders what was not drawn
    evidence.read("group", torch.tensor([[0.2] * 5, [0.0, 0.6, 0.1, 0.2, 0.1]]))
    assert evidence.ranking(1, "group", 1, searched) == [1, 3, 2, 4, 0]


def test_outline_disagreement_scores_an_empty_outline_too():
    empty, small, large = torch.zeros(8, 8), torch.zeros(8, 8), torch.zeros(8, 8)
    small[:2, 2:6] = 1.0
    large[:4] = 1.0
    assert outline_disagreement(small, small) == 0.0
    assert outline_disagreement(empty, empty) == 0.0
    # a photo with no hair: no hair drawn is right, a little hair less wrong than a lot
    assert 0.0 < outline_disagreement(small, empty) < outline_disagreement(large, empty)
    assert outline_disagreement(large, small) > outline_disagreement(small, small)


def test_color_match_finds_the_hair_colour_the_photo_shows(fitter):
    """A photo whose hair has the colour the rig draws for some hair controls gets those
    controls back where one pass over each control can find them, and a closer colour where
    it cannot; a bald head, or a photo with next to no hair, leaves them alone."""
    spec, names = fitter.spec, [c.name for c in fitter.spec.continuous]
    hair = [fitter.labels.index(n) for n in COLOR_REGIONS["hair"]]
    controls = ("hair_color", "hair_redness")
    cfg = replace(fitter.config, mode="full", color_matches=(("hair", controls),))
    start = torch.as_tensor(spec.mean_vector())[None]
    index = [names.index(c) for c in controls]

    def hair_rgb(vec: np.ndarray) -> np.ndarray:
        drawn = fitter.rig.probe.render(vec)
        return drawn.image[np.isin(drawn.labels, hair)].mean(axis=0) / 255.0

    def photo(vec: np.ndarray, hair_share: float = 1.0) -> SimpleNamespace:
        """Targets of a photo with this face's hair colour and its parse's hair area."""
        drawn = fitter.rig.probe.render(vec)
        probs = torch.zeros(1, len(fitter.labels), *drawn.labels.shape)
        probs[0, hair] = torch.as_tensor(np.isin(drawn.labels, hair), dtype=torch.float32)
        return SimpleNamespace(
            colors={"hair": torch.as_tensor(hair_rgb(vec)[None])}, probs=probs * hair_share
        )

    def matched_of(vectors, targets):
        return match_colors(vectors, targets, fitter.rig, spec, cfg, steps=9)

    for colour, red, exact in ((0.125, 0.5, True), (0.875, 0.25, True), (0.625, 1.0, False)):
        truth = spec.encode({"continuous": {"hair_color": colour, "hair_redness": red}})
        targets = photo(truth)
        matched = matched_of(start, targets)[0].numpy()
        others = np.setdiff1d(np.arange(len(matched)), index)
        assert np.array_equal(matched[others], start[0].numpy()[others])  # only these move
        if exact:
            assert matched[index] == pytest.approx([colour, red])
        else:  # one pass per control (hair colour first) ends short of a red brown
            error = [
                np.linalg.norm(lab(hair_rgb(v)[None]) - lab(hair_rgb(truth)[None]))
                for v in (start[0].numpy(), matched)
            ]
            assert error[1] < 0.6 * error[0]
    bald = torch.as_tensor(spec.encode({"discrete": {"hairstyle": "bald"}}))[None]
    assert torch.equal(matched_of(bald, targets), bald)
    wisp = photo(truth, hair_share=0.05)  # a parse with a trace of hair: its colour is noise
    assert torch.equal(matched_of(start, wisp), start)


def test_a_dark_chin_makes_the_options_check_pick_a_beard(fitter, photo_targets):
    """Where the photo's chin reads as a beard, the check draws every facial hair option but
    none and keeps the best of them, although none scores best and holds the margin."""
    face, targets = photo_targets
    spec = fitter.spec
    clean = torch.as_tensor(spec.mean_vector())  # option 0 everywhere: no facial hair
    cfg = replace(fitter.config, mode="full", default_margin=0.99)
    block = spec.discrete_slices["facial_hair"]
    beards = [
        with_option(clean, block.start, block.stop, o) for o in range(1, block.stop - block.start)
    ]
    losses = [real_loss(fitter, v, targets) for v in beards]

    def check(bearded, evidence=None):
        return check_options(
            clean[None].clone(), sure_of(clean, fitter), targets, fitter.rig, fitter.layout,
            cfg, bearded=bearded, evidence=evidence,
        )  # fmt: skip

    assert torch.equal(check(None)[0], clean)  # no evidence: the margin keeps the default
    evidence = OptionEvidence(1)
    kept = check([True], evidence)
    assert torch.equal(kept[0], beards[int(np.argmin(losses))])
    assert real_loss(fitter, kept[0], targets) == pytest.approx(min(losses))
    # the editor offers the beards by how the game drew them, and none, ruled out, last
    choice = int(kept[0, block].argmax())
    searched = sure_of(clean, fitter)[[g.name for g in spec.discrete].index("facial_hair")]
    order = evidence.ranking(0, "facial_hair", choice, searched[0])
    assert order == [1 + int(b) for b in np.argsort(losses, kind="stable")] + [0]
    # the evidence is off with no group named
    assert beard_chins([face], replace(cfg, beard_group=None)) == [None]


def test_a_clean_chin_keeps_the_character_clean_shaven(fitter, photo_targets):
    """Where the photo's chin reads clean, the fit shaves any beard the search chose and the
    options check leaves the group alone, even where a beard would score better."""
    _, targets = photo_targets
    spec = fitter.spec
    block = spec.discrete_slices["facial_hair"]
    mean = torch.as_tensor(spec.mean_vector())
    beard = with_option(mean, block.start, block.stop, 4)
    cfg = replace(fitter.config, mode="full", default_margin=0.0)
    shaven = shave_clean_chins(beard[None], [None], spec, cfg)
    assert torch.equal(shaven[0], mean)
    # the check draws no beard for a clean chin, whichever the search preferred
    checked = check_options(
        shaven.clone(), sure_of(beard, fitter), targets, fitter.rig, fitter.layout, cfg,
        bearded=[False],
    )  # fmt: skip
    assert int(checked[0, block].argmax()) == 0
    # a chin that reads as a beard keeps it
    assert torch.equal(shave_clean_chins(beard[None], [-30.0], spec, cfg), beard[None])
    assert torch.equal(shave_clean_chins(beard[None], [None], spec, replace(cfg, beard_group=None)),
                       beard[None])  # fmt: skip


def test_a_textured_chin_is_read_as_a_beard_even_where_it_is_not_dark(fitter):
    spec = fitter.spec
    names = [c.name for c in spec.continuous]
    cfg = replace(fitter.config, mode="full")
    faces = {}
    for option in ("none", "stubble"):
        vec = spec.encode({"discrete": {"facial_hair": option}})
        vec[names.index("facial_hair_density")] = 0.3
        faces[option] = synthetic_face(fitter.rig.render(vec))
    bare, light = beard_chins([faces["none"], faces["stubble"]], cfg)
    assert bare is None
    assert light is not None and light > CHIN_LIGHTNESS  # the texture decided
    assert beard_chins([faces["stubble"]], cfg, texture=float("inf")) == [None]


def test_beard_density_is_matched_to_the_chin_on_real_renders(fitter):
    """A rig face drawn with a full beard at a density on the tried grid: matching its chin
    on real renders finds that density again, and faces without the evidence are left."""
    spec = fitter.spec
    names = [c.name for c in spec.continuous]
    truth = spec.encode({"discrete": {"facial_hair": "full_beard"}})
    truth[names.index("facial_hair_density")] = 0.75  # on the grid of 9 values
    face = synthetic_face(fitter.rig.render(truth))
    chin = chin_minus_cheek_lightness(face.image, face.aligned_landmarks68)
    start = torch.as_tensor(truth).clone()
    start[names.index("facial_hair_density")] = 0.1
    cfg = replace(fitter.config, mode="full")

    def matched(chins, cfg=cfg):
        return match_beard_density(start[None].clone(), chins, fitter.rig, spec, cfg, steps=9)

    assert float(matched([chin])[0, names.index("facial_hair_density")]) == pytest.approx(0.75)
    assert torch.equal(matched([None])[0], start)
    assert torch.equal(matched([chin], replace(cfg, beard_density=None))[0], start)


def test_a_dense_full_beard_is_chosen_with_each_beard_at_the_chins_density(fitter):
    """A face drawn with a dense full beard: with every beard drawn as dense as the chin shows,
    the options check finds the full beard again and keeps it at that density."""
    spec = fitter.spec
    k = spec.continuous_index["facial_hair_density"]
    truth = torch.as_tensor(spec.encode({"discrete": {"facial_hair": "full_beard"}}))
    truth[k] = 1.0
    face = synthetic_face(fitter.rig.render(truth.numpy()))
    targets = fitter.targets_of([face])[1]
    (chin,) = beard_chins([face], replace(fitter.config, mode="full"))
    assert chin is not None
    block = spec.discrete_slices["facial_hair"]
    start = with_option(truth, block.start, block.stop, 1)  # searched: stubble, half dense
    start[k] = 0.5
    cfg = replace(fitter.config, mode="full")

    def at_chin_density(i, candidate):
        return with_chin_density(candidate, chin, fitter.rig, k, steps=5)

    checked = check_options(
        start[None].clone(), sure_of(start, fitter), targets, fitter.rig, fitter.layout, cfg,
        bearded=[True], at_chin_density=at_chin_density,
    )  # fmt: skip
    assert spec.decode(checked[0].numpy())["discrete"]["facial_hair"] == "full_beard"
    assert float(checked[0, k]) == pytest.approx(1.0)
