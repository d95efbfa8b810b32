"""The fit on rig 3 (`facefit-human/3.3`, `FACEFIT_RIG=human`): its own rig parts, renderer
and weights folder, and the post-search steps on its renders.

Tiny untrained networks for rig 3 run every stage; the steps that act on rig parts (outline,
colours, beard) get rig 3 renders whose answer is known. The last test fits photos with rig
3's shipped networks (`weights/human/`) and skips, saying so, until they are committed.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facefit.data.faces import read_manifest
from facefit.fit.beard import match_beard_density
from facefit.fit.colors import match_colors
from facefit.fit.config import HUMAN_PARTS, REFERENCE_PARTS, FitConfig, for_rig
from facefit.fit.evaluate import evaluate_photos, evaluate_synthetic, synthetic_face
from facefit.fit.fitter import load_fitter
from facefit.fit.losses import COLOR_REGIONS
from facefit.fit.outline import choose_outlines, unworn_options
from facefit.fit.params import ParamLayout
from facefit.fit.skin_regions import cheek_lab, chin_minus_cheek_lightness
from facefit.fit.start import default_unless_confident
from facefit.rig.human.controls import CUT_SHORT, TIED
from facefit.rig.human.spec import RIG_ID
from facefit.settings import RIG_WEIGHTS, CoreSettings
from tests.tiny_weights import write_tiny_weights

FIXTURES = Path(__file__).parent.parent / "fixtures" / "faces"
PHOTO = FIXTURES / "london_001_neutral.jpg"
SHIPPED = RIG_WEIGHTS["human"]
SKIN = ("skin_tone", "skin_undertone", "skin_saturation")
SKIN_TARGET = 6.0  # CIE76 between the character's cheeks and the photo's (the likeness issue)


@pytest.fixture(scope="module", autouse=True)
def rig_3():
    """Every test here runs with rig 3 selected, as `FACEFIT_RIG=human` selects it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEFIT_RIG", "human")
        yield


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("human-weights"))


@pytest.fixture(scope="module")
def fitter(weights):
    from facefit.rig.spec import load_spec

    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=weights)
    return load_fitter(settings, for_rig(FitConfig(max_iters=2, threshold=1.0), load_spec()))


def names_of(spec) -> list[str]:
    return [c.name for c in spec.continuous]


def skin_distance(render, photo: np.ndarray) -> float:
    return float(np.linalg.norm(cheek_lab(render.image, render.landmarks68) - photo))


def test_the_rig_switch_selects_rig_3s_parts_renderer_and_weights_folder(fitter, weights):
    assert CoreSettings.from_env({"FACEFIT_RIG": "human"}).weights_dir == SHIPPED
    assert CoreSettings.from_env({}).weights_dir == RIG_WEIGHTS["reference"]
    chosen = CoreSettings.from_env({"FACEFIT_RIG": "human", "FACEFIT_WEIGHTS_DIR": str(weights)})
    assert chosen.weights_dir == weights
    # the defaults the fit loads without a config given are rig 3's own table
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=weights)
    loaded = load_fitter(settings)
    assert {k: getattr(loaded.config, k) for k in asdict(HUMAN_PARTS)} == asdict(HUMAN_PARTS)
    assert HUMAN_PARTS != REFERENCE_PARTS
    for renderer in (fitter.rig._renderer, fitter.rig.probe):
        assert renderer.spec.rig_id == RIG_ID == fitter.spec.rig_id
    # the average face the photo evaluation measures against is rig 3's own
    drawn = fitter.rig._renderer.render(fitter.spec.mean_vector()).landmarks68
    np.testing.assert_array_equal(fitter.rig.average_landmarks68(), drawn)


def test_a_photo_is_fitted_on_rig_3_with_the_skin_of_its_cheeks(fitter):
    """Every stage runs on rig 3; even with untrained networks the colour step, which works
    on real renders, brings the character's cheeks to the photo's."""
    from facefit.rig.spec import load_spec

    result = fitter.fit_photo(PHOTO.read_bytes())
    assert result.rig == RIG_ID and result.params["rig"] == RIG_ID
    assert load_spec().encode(result.params).shape == (fitter.spec.vector_size,)
    assert result.real_render.shape == (512, 512, 3) and result.fit["iterations"] == 2
    assert result.preview_png().startswith(b"\x89PNG")
    photo = result.photo_cheek_lab()
    render = SimpleNamespace(image=result.real_render, landmarks68=result.real_landmarks68)
    assert skin_distance(render, photo) <= SKIN_TARGET
    unmatched = fitter.fit_photo(PHOTO.read_bytes(), color_matches=())
    render = SimpleNamespace(image=unmatched.real_render, landmarks68=unmatched.real_landmarks68)
    assert skin_distance(render, photo) > SKIN_TARGET


def test_the_skin_match_reaches_a_rig_faces_cheeks_between_grid_steps(fitter):
    """Skin colours off the grid: one coarse pass with a refined step per control comes
    within a few tenths of a grid step's colour change; only the skin controls move."""
    spec = fitter.spec
    cfg = replace(fitter.config, color_matches=(("skin", SKIN),))
    start = torch.as_tensor(spec.mean_vector())[None]
    index = [names_of(spec).index(c) for c in SKIN]
    for truth in ((0.3, 0.7, 0.6), (0.85, 0.2, 0.3), (0.1, 0.45, 0.9)):
        drawn = fitter.rig.render(spec.encode({"continuous": dict(zip(SKIN, truth, strict=True))}))
        photo = cheek_lab(drawn.image, drawn.landmarks68)
        matched = match_colors(start, None, fitter.rig, spec, cfg, cheeks=photo[None])
        assert skin_distance(fitter.rig.render(start[0]), photo) > 10.0
        assert skin_distance(fitter.rig.render(matched[0]), photo) < 2.5
        others = np.setdiff1d(np.arange(spec.vector_size), index)
        assert torch.equal(matched[0, others], start[0, others])
    with pytest.raises(ValueError, match="cheeks"):
        match_colors(start, None, fitter.rig, spec, cfg)


def parsed_as_drawn(fitter, drawn, regions) -> SimpleNamespace:
    """What the colour match reads of a photo parsed exactly as `drawn` labels `regions`."""
    labels = fitter.labels
    probs = torch.zeros(1, len(labels), *drawn.labels.shape)
    colors = {}
    for region in regions:
        mask = np.isin(drawn.labels, [labels.index(n) for n in COLOR_REGIONS[region]])
        probs[0, labels.index(COLOR_REGIONS[region][0])] = torch.as_tensor(mask).float()
        colors[region] = torch.as_tensor(drawn.image[mask].mean(axis=0)[None] / 255.0)
    images = torch.as_tensor(drawn.image).permute(2, 0, 1)[None].float() / 255.0
    return SimpleNamespace(colors=colors, probs=probs, images=images)


def test_hair_and_lip_colours_are_matched_on_rig_3(fitter):
    """Photos whose hair and lips have the colours rig 3 draws for grid values get them back."""
    spec = fitter.spec
    cfg = replace(fitter.config, color_matches=HUMAN_PARTS.color_matches[1:3])
    values = {"hair_color": 0.875, "hair_redness": 0.25, "hair_grey": 0.0, "lip_color": 0.875}
    full_lips = {"lower_lip_volume": 1.0, "upper_lip_volume": 1.0}  # a few pixels at this size
    truth = spec.encode({"continuous": values | full_lips, "discrete": {"hairstyle": "short02"}})
    photo = parsed_as_drawn(fitter, fitter.rig.probe.render(truth), ("hair", "lips"))
    start = torch.as_tensor(
        spec.encode({"continuous": full_lips, "discrete": {"hairstyle": "short02"}})
    )[None]
    matched = match_colors(start, photo, fitter.rig, spec, cfg)
    index = [names_of(spec).index(c) for c in values]
    assert matched[0, index].tolist() == pytest.approx(list(values.values()))


@pytest.mark.parametrize("eyes", [0.125, 0.5, 0.875])
def test_the_eyes_colour_is_read_from_the_iris(fitter, eyes):
    """A face drawn with brown, hazel or blue eyes (and its own skin and hair) gets its eye
    colour back from its irises, within a step of the rig's table; a face whose eyes cannot be
    read keeps the colour it had."""
    from facefit.fit.iris import match_irises, photo_irises

    spec = fitter.spec
    others = {"skin_tone": 0.7, "hair_color": 0.2, "sex": 1.0}
    truth = spec.encode({"continuous": others | {"eye_color": eyes}})
    face = synthetic_face(fitter.rig.render(truth))
    start = torch.as_tensor(spec.encode({"continuous": others}))[None]
    matched = match_irises(start, photo_irises([face]), fitter.rig, spec, "eye_color")
    assert float(matched[0, spec.continuous_index["eye_color"]]) == pytest.approx(eyes, abs=0.125)
    kept = match_irises(start, [None], fitter.rig, spec, "eye_color")
    assert torch.equal(kept, start)


def test_dark_hair_is_matched_without_grey(fitter):
    """From the predictor's half grey, black hair comes back black, not lightened with grey."""
    spec = fitter.spec
    cfg = replace(fitter.config, color_matches=(("hair", HUMAN_PARTS.color_matches[1][1]),))
    values = {"hair_color": 0.125, "hair_redness": 0.0, "hair_grey": 0.0}
    truth = spec.encode({"continuous": values, "discrete": {"hairstyle": "short02"}})
    photo = parsed_as_drawn(fitter, fitter.rig.probe.render(truth), ("hair",))
    start = torch.as_tensor(spec.encode({"discrete": {"hairstyle": "short02"}}))[None]
    assert start[0, names_of(spec).index("hair_grey")] == 0.5
    matched = match_colors(start, photo, fitter.rig, spec, cfg)
    index = [names_of(spec).index(c) for c in values]
    assert matched[0, index].tolist() == pytest.approx(list(values.values()))


def test_fast_reads_skin_and_hair_colours_off_the_average_faces_tables(fitter):
    """`fast`'s colours: a face whose skin and hair rig 3 drew with other colours than the
    start's gets colours near them from tables drawn once; the lips, drawn from the skin's
    colour, and every other control stay."""
    from facefit.fit.color_tables import match_colors_from_tables

    spec = fitter.spec
    cfg = replace(fitter.config, color_matches=HUMAN_PARTS.color_matches[:3])
    values = {"skin_tone": 0.8, "skin_undertone": 0.3, "skin_saturation": 0.6,
              "hair_color": 0.6, "hair_redness": 0.7, "hair_grey": 0.0}  # fmt: skip
    styled = {"discrete": {"hairstyle": "short01"}}
    truth = spec.encode(styled | {"continuous": values | {"lip_color": 0.2}})
    drawn = fitter.rig.probe.render(truth)
    photo = parsed_as_drawn(fitter, drawn, ("hair", "lips"))
    cheeks = cheek_lab(drawn.image, drawn.landmarks68)[None]
    start = torch.as_tensor(spec.encode(styled))[None]
    matched = match_colors_from_tables(start, photo, fitter.rig, spec, cfg, cheeks)
    assert skin_distance(fitter.rig.probe.render(start[0]), cheeks[0]) > 10.0
    assert skin_distance(fitter.rig.probe.render(matched[0]), cheeks[0]) < 2.5
    index = [names_of(spec).index(c) for c in values]
    assert np.abs(matched[0, index].numpy() - list(values.values())).max() < 0.15
    others = np.setdiff1d(np.arange(spec.vector_size), index)
    assert torch.equal(matched[0, others], start[0, others])
    tables = {key[0] for key in fitter.rig.color_tables}  # kept for the next photo
    assert {"skin", "hair"} <= tables and "lips" not in tables


def test_rig_3s_hairstyles_are_chosen_by_their_outline(fitter):
    """Bald stays bald and long hair long: a photo parsed as rig 3 draws a hairstyle gets it."""
    spec, labels = fitter.spec, fitter.labels
    size = fitter.networks.extractor_size
    searched = torch.as_tensor(spec.encode({"discrete": {"hairstyle": "short02"}}))[None]
    for style in ("bald", "long01", "afro01", "bob01", "buzz"):
        drawn = fitter.rig.render(spec.encode({"discrete": {"hairstyle": style}}))
        one_hot = F.one_hot(torch.as_tensor(drawn.labels, dtype=torch.long), len(labels))
        probs = F.interpolate(
            one_hot.permute(2, 0, 1)[None].float(), size=(size, size), mode="area"
        )
        chosen = choose_outlines(
            searched, SimpleNamespace(probs=probs), fitter.rig, spec, HUMAN_PARTS.silhouette_groups
        )
        assert spec.decode(chosen[0].numpy())["discrete"]["hairstyle"] == style


def test_curled_hairstyles_go_only_to_curled_hair(fitter):
    """A photo parsed with the afro's own outline gets the afro where its hair is curled, and
    another style where it is not: an outline cannot tell coils from hair tied up high."""
    spec, labels = fitter.spec, fitter.labels
    size = fitter.networks.extractor_size
    drawn = fitter.rig.render(spec.encode({"discrete": {"hairstyle": "afro01"}}))
    one_hot = F.one_hot(torch.as_tensor(drawn.labels, dtype=torch.long), len(labels))
    probs = F.interpolate(one_hot.permute(2, 0, 1)[None].float(), size=(size, size), mode="area")
    searched = torch.as_tensor(spec.encode({"discrete": {"hairstyle": "afro01"}}))[None]
    chosen = {}
    for curled in (True, False):
        vector = choose_outlines(
            searched, SimpleNamespace(probs=probs), fitter.rig, spec,
            HUMAN_PARTS.silhouette_groups,
            unworn=unworn_options(searched, spec, fitter.config, [curled]),
        )[0]  # fmt: skip
        chosen[curled] = spec.decode(vector.numpy())["discrete"]["hairstyle"]
    assert chosen[True] == "afro01"
    assert chosen[False] not in HUMAN_PARTS.curled_options


@pytest.mark.parametrize("front", ["short04", "ponytail01"])
def test_the_length_a_front_cannot_show_follows_the_characters_sex(fitter, front):
    """`short04` and `ponytail01` draw one front: from either outline a woman's character
    wears her hair tied back and a man's wears his cut short."""
    spec, labels = fitter.spec, fitter.labels
    size = fitter.networks.extractor_size
    drawn = fitter.rig.render(spec.encode({"discrete": {"hairstyle": front}}))
    one_hot = F.one_hot(torch.as_tensor(drawn.labels, dtype=torch.long), len(labels))
    probs = F.interpolate(one_hot.permute(2, 0, 1)[None].float(), size=(size, size), mode="area")
    for sex, worn in ((0.05, TIED), (0.95, CUT_SHORT)):
        searched = spec.encode({"continuous": {"sex": sex}, "discrete": {"hairstyle": "bob01"}})
        searched = torch.as_tensor(searched)[None]
        vector = choose_outlines(
            searched, SimpleNamespace(probs=probs), fitter.rig, spec,
            HUMAN_PARTS.silhouette_groups,
            unworn=unworn_options(searched, spec, fitter.config, [False]),
        )[0]  # fmt: skip
        assert spec.decode(vector.numpy())["discrete"]["hairstyle"] in worn, (front, sex)


@pytest.mark.parametrize("on_average_face", [False, True])
def test_rig_3s_hair_volume_is_chosen_with_the_outline(fitter, on_average_face):
    """Short hair with volume is not mistaken for another style: each option is drawn flat
    and full (on the searched face in `full`, once on the average face in `fast`), and the
    full short crop wins with its volume."""
    spec, labels = fitter.spec, fitter.labels
    size = fitter.networks.extractor_size
    k = names_of(spec).index("hair_volume")
    for volume in (0.0, 1.0):
        truth = spec.encode({"discrete": {"hairstyle": "short01"}})
        truth[k] = volume
        drawn = fitter.rig.render(truth)
        one_hot = F.one_hot(torch.as_tensor(drawn.labels, dtype=torch.long), len(labels))
        probs = F.interpolate(
            one_hot.permute(2, 0, 1)[None].float(), size=(size, size), mode="area"
        )
        searched = torch.as_tensor(spec.encode({"discrete": {"hairstyle": "short02"}}))[None]
        chosen = choose_outlines(
            searched, SimpleNamespace(probs=probs), fitter.rig, spec,
            HUMAN_PARTS.silhouette_groups, extents=HUMAN_PARTS.silhouette_extents,
            on_average_face=on_average_face,
        )  # fmt: skip
        assert spec.decode(chosen[0].numpy())["discrete"]["hairstyle"] == "short01"
        assert float(chosen[0, k]) == volume


@pytest.mark.parametrize("on_probe", [False, True], ids=["full", "fast"])
def test_rig_3s_beard_density_is_matched_to_the_chin(fitter, on_probe, monkeypatch):
    """Where the rig sets no density for a bearded chin's beard, `full` draws each density at
    the aligned frame's side and finds the drawn one; `fast` draws at the extractor's (the
    shipped extractor's 128 px: the test networks' 32 px hold no chin), where the chin reads
    within half a L* of the large render's: a grid step at most. Rig 3 sets its lightest."""
    from facefit.rig.choice import make_renderer

    monkeypatch.setattr(fitter.rig, "probe", make_renderer(128))
    spec = fitter.spec
    k = names_of(spec).index("facial_hair_density")
    for style in ("full_beard", "stubble"):
        truth = spec.encode({"discrete": {"facial_hair": style}})
        truth[k] = 0.75  # on the grid of 9 values
        face = synthetic_face(fitter.rig.render(truth))
        chin = chin_minus_cheek_lightness(face.image, face.aligned_landmarks68)
        start = torch.as_tensor(truth).clone()
        start[k] = 0.1
        cfg = replace(fitter.config, chin_beard_density=None)
        matched = match_beard_density(start[None], [chin], fitter.rig, spec, cfg, on_probe=on_probe)
        assert float(matched[0, k]) == pytest.approx(0.75, abs=0.125 if on_probe else 1e-6)
        shipped = match_beard_density(start[None], [chin], fitter.rig, spec, fitter.config)
        assert float(shipped[0, k]) == 0.0 == fitter.config.chin_beard_density


def test_a_bearded_chin_wears_rig_3s_light_stubble(fitter):
    """Rig 3's drawn beards are flat patches, which both recognisers take the person for less
    often than its lightest stubble: where the chin reads as a beard, the options check draws
    only the stubble, at its lightest, even against a photo of a dense moustache, and `fast`
    takes it too; with every beard allowed, the photo's own wins."""
    from facefit.fit.beard import at_chin_density, chin_beard_options
    from facefit.fit.options import check_options

    spec, cfg = fitter.spec, replace(fitter.config, mode="full")
    allowed = chin_beard_options(spec, cfg)
    block = spec.discrete_slices["facial_hair"]
    k = spec.continuous_index["facial_hair_density"]
    beards = next(g.options for g in spec.discrete if g.name == "facial_hair")
    assert [beards[i] for i in allowed] == ["stubble"]
    truth = spec.encode({"continuous": {"facial_hair_density": 1.0, "sex": 1.0},
                         "discrete": {"facial_hair": "moustache"}})  # fmt: skip
    targets = fitter.targets_of([synthetic_face(fitter.rig.render(truth))])[1]
    start = torch.as_tensor(truth)[None].clone()
    sure = [torch.as_tensor(start[0, s]).clone()[None] for s in spec.discrete_slices.values()]

    def worn(chin_beards):
        checked = check_options(
            start.clone(), sure, targets, fitter.rig, fitter.layout, cfg,
            decided=("hairstyle", "eyebrow_style"), bearded=[True],
            at_chin_density=lambda i, v: at_chin_density(v, -30.0, fitter.rig, cfg, k),
            chin_beards=chin_beards,
        )  # fmt: skip
        return spec.options(checked[0].numpy())["facial_hair"], float(checked[0, k])

    assert worn(None)[0] == "moustache"  # the photo's own beard, where every beard may be worn
    assert worn(allowed) == ("stubble", 0.0)
    likeliest = torch.zeros(spec.vector_size)[None]
    likeliest[0, block] = torch.tensor([0.1, 0.2, 0.4, 0.3, 0.0])[: block.stop - block.start]
    layout = ParamLayout.from_spec(spec)
    for chin_beards, expected in ((None, "moustache"), (allowed, "stubble")):
        fast = default_unless_confident(
            likeliest, layout, cfg, bearded=[True], chin_beards=chin_beards
        )
        assert spec.options(fast[0].numpy())["facial_hair"] == expected


def test_fast_keeps_rig_3s_hairstyle_and_holds_only_the_beard_default(fitter):
    """Rig 3's option 0 is bald: `fast` must not fall back to it for an unsure hairstyle, as
    it falls back to no beard for an unsure one."""
    spec = fitter.spec
    layout = ParamLayout.from_spec(spec)
    unsure = torch.as_tensor(
        spec.encode({"discrete": {"hairstyle": "long01", "facial_hair": "stubble"}})
    )[None].clone()
    for group in ("hairstyle", "facial_hair"):
        block = spec.discrete_slices[group]
        unsure[0, block] = unsure[0, block] * 0.6 + 0.4 / (block.stop - block.start)
    kept = spec.decode(default_unless_confident(unsure, layout, fitter.config)[0].numpy())
    assert kept["discrete"]["hairstyle"] == "long01"
    assert kept["discrete"]["facial_hair"] == "none"
    reference_margin = replace(fitter.config, default_margin_groups=None)
    bald = spec.decode(default_unless_confident(unsure, layout, reference_margin)[0].numpy())
    assert bald["discrete"]["hairstyle"] == "bald"


def test_the_evaluations_draw_rig_3(fitter):
    synthetic = evaluate_synthetic(fitter, n=2, batch=2)
    assert synthetic["n"] == 2 and set(synthetic["discrete_accuracy"]) == {
        g.name for g in fitter.spec.discrete
    }
    photos = evaluate_photos(fitter, read_manifest(FIXTURES)[:1])
    assert not photos["failed"] and photos["skin_delta_e"] <= SKIN_TARGET
    assert 0.0 < photos["nme_reference"] < 0.5 and 0.0 <= photos["hair_iou"] <= 1.0


@pytest.mark.skipif(
    not (SHIPPED / "imitator-lite.pt").exists(),
    reason=f"rig 3's networks are not committed yet ({SHIPPED / 'imitator-lite.pt'} is absent)",
)
def test_rig_3s_shipped_networks_fit_the_fixture_photos():
    """The shipped rig-3 networks, found by the rig switch alone: each character's cheeks
    within the likeness target of the photo's, no facial hair on the women, and the
    imitator drawing what rig 3 draws for the fitted parameters."""
    settings = replace(CoreSettings.from_env({"FACEFIT_RIG": "human"}), device="cpu")
    assert settings.weights_dir == SHIPPED
    fitter = load_fitter(settings)
    for record in read_manifest(FIXTURES):
        result = fitter.fit_photo(record.image.read_bytes())
        render = SimpleNamespace(image=result.real_render, landmarks68=result.real_landmarks68)
        assert skin_distance(render, result.photo_cheek_lab()) <= SKIN_TARGET, record.name
        if record.gender == "female":
            assert result.params["discrete"]["facial_hair"] == "none", record.name
        size = result.imitator_image.shape[0]
        real = torch.as_tensor(result.real_render).permute(2, 0, 1)[None].float()
        real = F.interpolate(real, size=(size, size), mode="area")[0].permute(1, 2, 0).numpy()
        assert np.abs(real - result.imitator_image).mean() / 255 < 0.05, record.name


@pytest.mark.skipif(
    not (SHIPPED / "descriptor-mlp.pt").exists(),
    reason=f"rig 3's descriptor imitator is not committed ({SHIPPED})",
)
def test_fast_reads_its_character_from_the_descriptor_imitator_and_draws_nothing(monkeypatch):
    """With the shipped networks `fast` draws no real render once the average face's tables
    are drawn, its recognition step still moves the shape, and the imitator's reading of
    the character the step starts from is nearer dlib's reading of its render than faces are
    to one another."""
    from facefit.likeness.descriptors import placed_descriptor
    from facefit.nets.weights import read_manifest as read_weights_manifest

    settings = replace(CoreSettings.from_env({"FACEFIT_RIG": "human"}), device="cpu")
    fitter = load_fitter(settings)
    photos = [record.image.read_bytes() for record in read_manifest(FIXTURES)]
    for photo in photos:  # the average face's tables and outlines: drawn once a process
        fitter.fit_photo(photo, mode="fast")
    drawn = []
    real_render = fitter.rig.render
    monkeypatch.setattr(fitter.rig, "render", lambda v: drawn.append(v) or real_render(v))
    result = fitter.fit_photo(photos[0], mode="fast")
    assert drawn == [] and result.fit["similarity"] is None
    plain = fitter.fit_photo(photos[0], mode="fast", w_recognition=0.0)
    moved = fitter.spec.encode(result.params) - fitter.spec.encode(plain.params)
    assert np.abs(moved).max() > 0.05
    vector = torch.as_tensor(fitter.spec.encode(plain.params))  # what the step reads
    predicted = fitter.networks.descriptor.describe(vector[None])[0]
    seen = placed_descriptor(plain.real_render, plain.real_landmarks68)
    entry = read_weights_manifest(SHIPPED)["weights"]["descriptor-mlp.pt"]
    apart = entry["validation"]["heldout_photos"]["median_distance_between_faces"]
    assert np.linalg.norm(predicted - seen) < 0.6 * apart


@pytest.mark.skipif(
    not (SHIPPED / "recognition-response.pt").exists(),
    reason=f"rig 3's recogniser response is not committed ({SHIPPED})",
)
def test_full_ends_with_the_shape_solved_with_the_recogniser(weights, tmp_path):
    """`full` with the recogniser's response installed moves only the shape controls, and
    the character's real render reads closer to the photo in dlib's recogniser."""
    from facefit.fit.attributes import photo_descriptors
    from facefit.fit.shape import shape_controls
    from facefit.likeness.descriptors import placed_descriptor
    from facefit.nets.recognition import NETWORK, load_recognition_response
    from facefit.nets.weights import save_weights
    from facefit.rig.spec import load_spec
    from tests.tiny_weights import copy_weights

    spec = load_spec()
    folder = copy_weights(weights, tmp_path)
    shipped = load_recognition_response(SHIPPED / "recognition-response.pt", spec.rig_id)
    save_weights(
        folder / "recognition-response.pt", network=NETWORK, config_name="response",
        config={"poles": shipped.response.shape[1]}, rig=spec.rig_id, layout={},
        state_dict=shipped.state_dict(), provenance={"data": "rig 3's shipped response"},
    )  # fmt: skip
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=folder)
    fitter = load_fitter(settings, for_rig(FitConfig(max_iters=1, threshold=1.0), spec))
    assert fitter.networks.recognition is not None
    photo = PHOTO.read_bytes()
    plain = fitter.fit_photo(photo, w_recognition=0.0)
    recognised = fitter.fit_photo(photo)
    a, b = spec.encode(plain.params), spec.encode(recognised.params)
    shape = shape_controls(spec)
    rest = [i for i in range(spec.vector_size) if i not in shape]
    assert np.abs(a[shape] - b[shape]).max() > 0.05
    np.testing.assert_allclose(a[rest], b[rest], atol=1e-6)
    from facefit.align import align_photo, load_photo

    pixels = load_photo(photo)
    wanted = photo_descriptors([(pixels, align_photo(pixels))])[0]

    def distance(result) -> float:
        seen = placed_descriptor(result.real_render, result.real_landmarks68)
        return float(np.linalg.norm(seen - wanted))

    assert distance(recognised) < distance(plain)
