"""Rig 3's spec and renderers, shared by the unit tests that draw it."""

from __future__ import annotations

import pytest

from facefit.rig.human.spec import human_spec


@pytest.fixture(scope="session")
def human_rig_spec():
    return human_spec()


@pytest.fixture(scope="session")
def human_renderer(human_rig_spec):
    """Rig 3's renderer of a size, one per size for the session (each owns a GL context)."""
    from facefit.rig.human.render import HumanRenderer

    made: dict[int, HumanRenderer] = {}

    def of_size(size: int) -> HumanRenderer:
        if size not in made:
            made[size] = HumanRenderer(size, human_rig_spec)
        return made[size]

    return of_size
