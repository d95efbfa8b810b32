"""The attribute reader: photos' sex, age and ethnic group, and rig 3's macros from them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facefit.align import load_photo
from facefit.data.faces import read_manifest
from facefit.fit.attributes import macro_values, with_macros
from facefit.likeness.descriptors import photo_descriptor
from facefit.nets.attributes import ETHNICITIES, Attributes, load_attribute_reader
from facefit.rig.human.spec import human_spec
from facefit.train.attributes import AttributesTrainConfig, ethnicity_shares, train_attributes

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "faces"
SHIPPED = ROOT / "weights" / "human" / "attributes-linear.pt"


def test_manifest_labels_become_shares_of_the_known_groups():
    assert ethnicity_shares("white").tolist() == [1.0, 0.0, 0.0, 0.0]
    assert ethnicity_shares("east_asian/white").tolist() == [0.5, 0.0, 0.5, 0.0]
    assert ethnicity_shares(None).sum() == 0.0


def test_a_reading_sets_rig_3s_macros_and_nothing_else():
    spec = human_spec()
    shares = dict.fromkeys(ETHNICITIES, 0.0) | {"black": 0.8, "west_asian": 0.2}
    reading = Attributes(male=0.1, years=44.0, ethnicity=shares)
    assert macro_values(reading) == pytest.approx(
        {"sex": 0.1, "age": 0.5, "african": 0.8, "asian": 0.0, "caucasian": 0.2}
    )
    start = torch.rand(2, spec.vector_size)
    out, fixed = with_macros(start, [reading, reading], spec)
    names = [spec.continuous[i].name for i in fixed]
    assert sorted(names) == ["african", "age", "asian", "caucasian", "sex"]
    others = [i for i in range(spec.vector_size) if i not in fixed]
    assert torch.equal(out[:, others], start[:, others])
    assert out[0, fixed].tolist() == pytest.approx([0.1, 0.5, 0.8, 0.0, 0.2])


def test_the_shipped_reader_reads_the_fixture_people():
    reader = load_attribute_reader(SHIPPED)
    age_errors = []
    for record in read_manifest(FIXTURES):
        descriptor = photo_descriptor(load_photo(record.image.read_bytes()))
        (reading,) = reader.read(torch.from_numpy(descriptor)[None].float())
        assert (reading.male > 0.5) == (record.gender == "male"), record.name
        main = max(reading.ethnicity, key=reading.ethnicity.get)
        assert main == record.ethnicity, (record.name, reading.ethnicity)
        age_errors.append(abs(reading.years - record.age))
    # the photos' ages span 19-47 and most are young: the reader errs towards the young
    assert np.mean(age_errors) < 10, age_errors


def test_training_writes_a_listed_reader_that_separates_its_photos(tmp_path):
    validation = train_attributes(tmp_path, AttributesTrainConfig(steps=300), faces=FIXTURES)
    assert validation["training"]["sex_accuracy"] == 1.0
    entry = json.loads((tmp_path / "manifest.json").read_text())["weights"]["attributes-linear.pt"]
    assert entry["validation"] == validation and entry["rig"] == "any"
    reader = load_attribute_reader(tmp_path / "attributes-linear.pt")
    assert np.isfinite(reader.heads.weight.detach().numpy()).all()
