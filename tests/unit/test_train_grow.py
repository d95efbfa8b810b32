"""Weights carried over a rig revision that adds controls or options (`facefit.train.grow`)."""

from __future__ import annotations

import pytest
import torch

from facefit.train.grow import regrow, vector_names

OLD = {"continuous": [{"name": "a"}, {"name": "b"}],
       "discrete": [{"name": "hair", "options": ["bald", "long"]}]}  # fmt: skip
NEW = {"continuous": [{"name": "a"}, {"name": "c"}, {"name": "b"}],
       "discrete": [{"name": "hair", "options": ["bald", "long", "curly"]}]}  # fmt: skip


def test_vector_names_follow_the_parameter_vector():
    assert vector_names(OLD) == ["a", "b", "hair=bald", "hair=long"]


def test_each_entry_keeps_its_weights_and_new_ones_start_neutral():
    first_in = torch.arange(12.0).reshape(3, 4)  # a layer reading the vector (out, D)
    last_out = torch.arange(8.0).reshape(4, 2)  # a layer writing it (D, hidden)
    other = torch.ones(5)
    state = {"in.weight": first_in, "out.weight": last_out, "other": other}
    target = {"in.weight": torch.zeros(3, 6), "out.weight": torch.zeros(6, 2),
              "other": torch.zeros(5)}  # fmt: skip
    grown = regrow(state, target, OLD, NEW)
    columns = grown["in.weight"]
    assert torch.equal(columns[:, 0], first_in[:, 0]) and torch.equal(columns[:, 2], first_in[:, 1])
    assert torch.equal(columns[:, 1], torch.zeros(3))  # the new control: no effect yet
    assert torch.equal(columns[:, 5], first_in[:, 2:4].mean(dim=1))  # the new option: its group's
    rows = grown["out.weight"]
    assert torch.equal(rows[3], last_out[2]) and torch.equal(rows[4], last_out[3])
    assert grown["other"] is other


def test_the_same_spec_leaves_the_state_alone_and_a_stranger_shape_is_refused():
    state = {"w": torch.ones(3, 4)}
    assert regrow(state, {"w": torch.zeros(3, 4)}, OLD, OLD)["w"] is state["w"]
    with pytest.raises(ValueError, match="parameter vector"):
        regrow({"w": torch.ones(3, 3)}, {"w": torch.zeros(3, 7)}, OLD, NEW)
