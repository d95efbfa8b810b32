"""The face data reader: manifest, 189-point templates mapped to iBUG-68, identity splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facefit.data.faces import (
    IBUG68_GROUPS,
    FaceRecord,
    faces_dir,
    identity_folds,
    read_ibug68,
    read_manifest,
    read_pts189,
    split_by_identity,
    with_frl189,
    with_landmarks,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


def test_manifest_rows_become_records_with_absolute_paths():
    records = read_manifest(FIXTURES)
    assert [r.id for r in records] == ["001", "024", "025"]
    assert records[0].image == FIXTURES / "london_001_neutral.jpg"
    assert records[0].image.is_file() and records[0].landmarks189.is_file()
    assert records[1].age == 47 and records[1].gender == "male"
    assert records[0].identity == "london:001"


def test_templates_map_to_ibug68_with_a_mask():
    record = read_manifest(FIXTURES)[0]
    points189 = read_pts189(record.landmarks189)
    assert points189.shape == (189, 2)
    points68, mask = read_ibug68(record, FIXTURES)
    assert points68.shape == (68, 2) and mask.shape == (68,)
    # The jaw except the chin has no counterpart; eye corners do.
    assert not mask[[0, 6, 10, 16]].any() and mask[[7, 8, 9, 36, 39, 42, 45]].all()
    assert np.isnan(points68[~mask]).all() and not np.isnan(points68[mask]).any()
    np.testing.assert_allclose(points68[36], points189[18])
    np.testing.assert_allclose(points68[27], points189[[50, 56]].mean(axis=0))
    # Image-left eye is left of image-right eye; brows above eyes; chin lowest.
    assert points68[36, 0] < points68[45, 0]
    assert points68[19, 1] < points68[37, 1] and points68[8, 1] == points68[mask, 1].max()


def test_wrong_point_count_is_an_error(tmp_path):
    bad = tmp_path / "bad.pts189"
    bad.write_text("# header\n1 2\n3 4\n")
    with pytest.raises(ValueError, match="189"):
        read_pts189(bad)


def test_groups_cover_all_68_points_once():
    points = sorted(p for group in IBUG68_GROUPS.values() for p in group)
    assert points == list(range(68))


def fake_records() -> list[FaceRecord]:
    records = []
    for i in range(20):
        for expression in ("neutral", "smiling"):
            records.append(
                FaceRecord("london", f"{i:03d}", expression, Path("x.jpg"), None, None, None, None)
            )
    for k in range(4):
        records.append(
            FaceRecord("lisa", f"lisa{k}", "neutral", Path("y.jpg"), None, None, None, None)
        )
    return records


def test_identity_folds_keep_each_person_in_one_fold():
    records = fake_records()
    folds = identity_folds(records, n_folds=5, seed=3)
    assert sum(len(f) for f in folds) == len(records)
    owners = {}
    for k, fold in enumerate(folds):
        for r in fold:
            assert owners.setdefault(r.identity, k) == k
    # All four "lisa" photos show one person.
    assert len({owners["lisa"]}) == 1
    assert identity_folds(records, n_folds=5, seed=3) == folds
    train, held = split_by_identity(records, holdout_fold=2, n_folds=5, seed=3)
    assert held == folds[2] and len(train) + len(held) == len(records)
    assert not {r.identity for r in train} & {r.identity for r in held}


@pytest.mark.skipif(not (faces_dir() / "manifest.csv").is_file(), reason="no shared face data")
def test_shared_data_reads_completely():
    records = read_manifest()
    assert len(records) == 192 and len(with_landmarks(records)) == 125
    complete = with_frl189(records)
    assert {r.set for r in complete} == {"london", "canada", "composite"} and len(complete) == 117
    for record in complete:
        points68, mask = read_ibug68(record)
        assert mask.sum() == 44 and np.isfinite(points68[mask]).all()
