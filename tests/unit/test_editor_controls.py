"""The editor's controls: the picture query both ways, and the order of the style pictures."""

from __future__ import annotations

import numpy as np
import pytest

from facefit.rig.spec import load_spec
from web.errors import ApiError
from web.previews import params_from_query
from web.sliders import option_rows, render_query, slider_groups


@pytest.fixture(scope="module")
def spec():
    return load_spec()


def test_the_picture_query_carries_every_value_to_a_thousandth(spec):
    params = spec.decode(spec.random_vector(np.random.default_rng(1)))
    query = render_query(params)
    back = params_from_query(spec, query["c"], query["d"])
    assert back["continuous"] == pytest.approx(params["continuous"], abs=0.0005)
    names = {g.name: g.options for g in spec.discrete}
    assert {k: names[k][v] for k, v in back["discrete"].items()} == params["discrete"]


@pytest.mark.parametrize("c, d", [("1,2", "0,0,0"), ("x", "0,0,0"), (None, "0,0")])
def test_a_malformed_picture_query_is_invalid_params(spec, c, d):
    c = ",".join(["500"] * len(spec.continuous)) if c is None else c
    with pytest.raises(ApiError) as error:
        params_from_query(spec, c, d)
    assert error.value.status == 422 and error.value.code == "INVALID_PARAMS"


def test_style_rows_show_the_fits_choice_then_its_runner_ups_then_the_rest(spec):
    fitted = spec.decode(spec.encode({"discrete": {"hairstyle": "bob"}}))
    edited = spec.decode(spec.encode({"discrete": {"hairstyle": "quiff"}}))
    rows = {r.name: r for r in option_rows(edited, fitted, {"hairstyle": ["buzz_cut", "nope"]})}
    hair = rows["hairstyle"]
    order = [name for _, name, _ in hair.options]
    assert order[:2] == ["bob", "buzz_cut"]
    assert sorted(order) == sorted(spec.discrete[0].options)  # every option, once
    assert (hair.value, hair.fitted) == ("quiff", "bob")
    assert set(rows) == {g.name for g in spec.discrete}


def test_sliders_know_the_fitted_value_and_their_place_in_the_spec(spec):
    fitted = spec.decode(spec.mean_vector())
    edited = spec.decode(spec.encode({"continuous": {"jaw_width": 0.9}}))
    sliders = {s.name: s for _, group in slider_groups(edited, fitted) for s in group}
    assert (sliders["jaw_width"].value, sliders["jaw_width"].fitted) == (0.9, 0.5)
    assert [sliders[c.name].index for c in spec.continuous] == list(range(len(spec.continuous)))


def test_the_editor_follows_the_rig_switch(monkeypatch):
    """Under `FACEFIT_RIG=human` the sliders, the style rows and the picture query are rig
    3's, and the picture query draws with rig 3's renderer."""
    from facefit.rig.choice import make_renderer
    from facefit.rig.human.spec import RIG_ID

    monkeypatch.setenv("FACEFIT_RIG", "human")
    human = load_spec()
    params = human.decode(human.random_vector(np.random.default_rng(2)))
    sliders = {s.name: s for _, group in slider_groups(params, params) for s in group}
    assert [sliders[c.name].index for c in human.continuous] == list(range(len(human.continuous)))
    assert {r.name for r in option_rows(params, params)} == {g.name for g in human.discrete}
    query = render_query(params)
    back = params_from_query(human, query["c"], query["d"])
    assert make_renderer(64).render(human.encode(back)).image.shape == (64, 64, 3)
    assert human.rig_id == RIG_ID
