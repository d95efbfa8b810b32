"""The fit's measurements: NME, identity retrieval and the two evaluations end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from facefit.cli import main
from facefit.data.faces import read_manifest
from facefit.fit.config import PATENT_MAX_ITERS, FitConfig
from facefit.fit.evaluate import (
    evaluate_photos,
    evaluate_synthetic,
    hair_agreement,
    hair_length_kept,
    identity_scores,
    nme,
)
from facefit.fit.fitter import load_fitter
from facefit.fit.skin_regions import cheek_lab, cheek_mask
from facefit.settings import CoreSettings
from tests.tiny_weights import write_tiny_weights

FIXTURES = Path(__file__).parent.parent / "fixtures" / "faces"


@pytest.fixture(scope="module")
def fitter(tmp_path_factory):
    weights = write_tiny_weights(tmp_path_factory.mktemp("weights"))
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=weights)
    return load_fitter(settings, FitConfig(max_iters=1, threshold=1.0))


def test_nme_is_in_units_of_the_outer_eye_corner_distance():
    truth = np.zeros((68, 2))
    truth[36], truth[45] = (0.0, 0.0), (100.0, 0.0)
    assert nme(truth + [3.0, 4.0], truth) == pytest.approx(0.05)
    mask = np.zeros(68, bool)
    mask[0] = True
    moved = truth.copy()
    moved[0] += 10.0
    assert nme(moved, truth, mask) == pytest.approx(np.hypot(10, 10) / 100)


def test_identity_scores_find_each_person_and_miss_shuffled_ones(fitter):
    rng = np.random.default_rng(0)
    spec = fitter.spec
    people = [f"p{i}" for i in range(12)]
    descriptors = {}
    for person in people:
        base = spec.random_vector(rng)
        smile = base.copy()
        smile[: spec.continuous_size] = np.clip(
            base[: spec.continuous_size] + rng.normal(0, 0.02, spec.continuous_size), 0, 1
        )
        descriptors[(person, "neutral")] = spec.decode(base)
        descriptors[(person, "smiling")] = spec.decode(smile)
    same = identity_scores(descriptors, fitter, shape_only=True)
    assert same["people"] == 12 and same["top1"] == 1.0 and same["verification"] > 0.9
    shuffled = dict(descriptors)
    for a, b in zip(people, people[1:] + people[:1], strict=True):
        shuffled[(a, "smiling")] = descriptors[(b, "smiling")]
    assert identity_scores(shuffled, fitter, shape_only=True)["top1"] == 0.0


def test_synthetic_evaluation_reports_the_issue_metrics(fitter):
    report = evaluate_synthetic(fitter, n=2, batch=2)
    assert report["n"] == 2
    assert 0.0 <= report["continuous_mae"] <= 1.0
    assert set(report["discrete_accuracy"]) == {g.name for g in fitter.spec.discrete}
    assert report["landmark_nme"] >= 0.0 and 0.0 <= report["pixel_l1"] <= 1.0
    # the confusion counts every face once per group, and its diagonal is the accuracy
    for group, rows in report["discrete_confusion"].items():
        assert sum(sum(row.values()) for row in rows.values()) == 2
        right = sum(row.get(true, 0) for true, row in rows.items())
        assert right / 2 == report["discrete_accuracy"][group]


def test_photo_evaluation_compares_with_the_human_templates(fitter):
    records = read_manifest(FIXTURES)[:2]
    report = evaluate_photos(fitter, records)
    assert report["photos"] == 2 and not report["failed"]
    for key in ("nme_fit", "nme_reference", "nme_dlib"):
        assert 0.0 < report[key] < 0.5
    assert (
        report["nme_dlib"] < report["nme_reference"]
    )  # dlib sits on the face, the mean face less so
    assert {r["photo"] for r in report["rows"]} == {r.name for r in records}
    assert 0.0 <= report["skin_delta_e"] < 100.0
    assert all(0.0 <= r["hair_iou"] <= 1.0 for r in report["rows"])  # both have templates
    assert report["hair_iou"] == pytest.approx(np.mean([r["hair_iou"] for r in report["rows"]]))
    women = [r for r in report["rows"] if r["gender"] == "female"]
    assert women  # london 001
    share = np.mean([r["discrete"]["facial_hair"] != "none" for r in women])
    assert report["facial_hair_on_women"] == share
    men = [r for r in report["rows"] if r["gender"] == "male"]
    assert men  # london 024
    share = np.mean([r["discrete"]["facial_hair"] != "none" for r in men])
    assert report["facial_hair_on_men"] == share
    # london 024 is labelled clean-shaven by eye: a beard on him is one given, not kept
    assert [r["facial_hair_by_eye"] for r in men] == ["none"]
    assert report["facial_hair_given_to_men_without"] == share
    assert "facial_hair_kept_on_men_with_it" not in report


def test_facial_hair_labels_cover_every_man_of_the_london_set():
    from facefit.data.faces import facial_hair_by_eye

    labels = facial_hair_by_eye()
    men = {r.identity for r in read_manifest() if r.set == "london" and r.gender == "male"}
    assert men == set(labels)
    assert set(labels.values()) == {"none", "stubble", "beard"}


def test_hair_labels_cover_every_london_person_and_score_rig_3s_styles():
    """Every London person's hair is labelled by eye; the photos' report counts how many
    hairstyles wear the hair as the label says, on a rig whose styles are mapped (rig 3)."""
    from facefit.data.faces import hair_by_eye, hair_length_by_eye
    from facefit.rig.human.spec import human_spec
    from facefit.rig.spec import load_reference_spec

    people = {r.identity for r in read_manifest() if r.set == "london"}
    assert set(hair_by_eye()) == set(hair_length_by_eye()) == people
    assert set(hair_by_eye().values()) == {"curled", "straight"}
    assert set(hair_length_by_eye().values()) == {"shaved", "short", "tied", "down"}
    rows = [
        {"hair_length_by_eye": "down", "discrete": {"hairstyle": "long01"}},
        {"hair_length_by_eye": "down", "discrete": {"hairstyle": "afro01"}},
        {"hair_length_by_eye": "shaved", "discrete": {"hairstyle": "buzz"}},
        {"discrete": {"hairstyle": "bald"}},  # no label: not counted
    ]
    assert hair_length_kept(rows, human_spec()) == {"down": "1/2", "shaved": "1/1"}
    assert hair_length_kept(rows, load_reference_spec()) == {}  # rig 2.2's styles: unmapped


def test_the_photos_report_counts_eyes_kept_as_labelled():
    """Every London person's eyes are labelled by eye; the report counts how many characters'
    eyes have the labelled shade (hazel, between, is not counted), on rig 3 only."""
    from facefit.data.faces import eyes_by_eye
    from facefit.fit.evaluate import eyes_kept
    from facefit.rig.human.spec import human_spec
    from facefit.rig.spec import load_reference_spec

    assert set(eyes_by_eye()) == {r.identity for r in read_manifest() if r.set == "london"}
    assert set(eyes_by_eye().values()) == {"dark", "light", "hazel"}
    rows = [
        {"eyes_by_eye": "light", "continuous": {"eye_color": 0.875}},
        {"eyes_by_eye": "light", "continuous": {"eye_color": 0.125}},
        {"eyes_by_eye": "dark", "continuous": {"eye_color": 0.25}},
        {"eyes_by_eye": "hazel", "continuous": {"eye_color": 0.5}},
    ]
    assert eyes_kept(rows, human_spec()) == {"dark": "1/1", "light": "1/2"}
    assert eyes_kept(rows, load_reference_spec()) == {}


def test_cheek_patches_sit_on_skin_and_measure_its_colour():
    from facefit.rig.render import Renderer
    from facefit.rig.spec import load_spec

    spec = load_spec()
    render = Renderer(128, spec).render(spec.mean_vector())
    mask = cheek_mask(render.labels.shape, render.landmarks68)
    skin = spec.labels.index("skin")
    assert mask.sum() > 20 and (render.labels[mask] == skin).mean() > 0.95
    flat = np.zeros_like(render.image)
    flat[...] = (200, 150, 120)
    tinted = flat.copy()
    tinted[..., 2] = 90  # bluer -> yellower: only b* moves much
    delta = cheek_lab(tinted, render.landmarks68) - cheek_lab(flat, render.landmarks68)
    assert abs(delta[0]) < 3 and delta[2] > 10


def test_hair_agreement_scores_the_render_against_the_templates_hair(fitter):
    """A render with exactly the photo's hair, in the photo's colours, agrees fully; one with
    no hair does not agree at all."""
    from types import SimpleNamespace

    from facefit.align import align_photo, load_photo
    from facefit.data.faces import faces_dir, read_pts189
    from facefit.data.photo_labels import photo_label_map, read_masks

    record = read_manifest(FIXTURES)[0]
    face = align_photo(load_photo(record.image.read_bytes()))
    labels = fitter.labels
    truth = photo_label_map(
        read_pts189(record.landmarks189), face.transform, face.image.shape[0],
        read_masks(faces_dir() / "frl189_masks.csv"), labels, image=face.image,
    )  # fmt: skip
    hair = labels.index("hair")
    assert (truth == hair).sum() > 500  # london 001: dark curly hair
    same = SimpleNamespace(
        aligned=face.image, transform=face.transform, real_render=face.image, real_labels=truth
    )
    agreement = hair_agreement(record, same, labels)
    assert agreement["hair_iou"] == 1.0 and agreement["hair_delta_e"] < 1e-3
    bald = SimpleNamespace(**{**vars(same), "real_labels": np.where(truth == hair, 0, truth)})
    agreement = hair_agreement(record, bald, labels)
    assert agreement["hair_iou"] == 0.0 and "hair_delta_e" not in agreement


def test_photo_evaluation_skips_the_hair_measure_where_the_template_is_shorter(fitter, tmp_path):
    """The lisa and zoom sets hold 106- and 83-point templates: no label map, no hair
    measure, and the photo is still fitted and reported."""
    from dataclasses import replace as replace_record

    record = read_manifest(FIXTURES)[0]
    short = tmp_path / "short.pts"
    lines = record.landmarks189.read_text().splitlines()
    short.write_text("\n".join(lines[:107]) + "\n")  # the comment line and 106 points
    report = evaluate_photos(fitter, [replace_record(record, landmarks189=short)])
    assert report["photos"] == 1 and not report["failed"]
    assert not {"hair_iou", "hair_delta_e"} & set(report["rows"][0])
    assert "hair_iou" not in report


def test_the_patents_baseline_runs_its_own_budget_unless_one_is_given(tmp_path, monkeypatch):
    """`facefit eval --mode patent` is the patent's loop from the average face, with the
    budget it needs; `full` and `fast` run the calibrated one."""
    weights = write_tiny_weights(tmp_path / "weights")
    monkeypatch.setenv("FACEFIT_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("FACEFIT_DEVICE", "cpu")
    out = tmp_path / "report.json"

    def iterations(*options: str) -> float:
        args = ["eval", "synthetic", "--n", "1", "--threshold", "1.0", "--json", "--out", str(out)]
        assert main([*args, *options]) == 0
        return json.loads(out.read_text())["iterations_mean"]

    assert iterations("--mode", "patent") == PATENT_MAX_ITERS
    assert iterations("--mode", "patent", "--max-iters", "2") == 2
    assert iterations("--mode", "full") == FitConfig().max_iters


def test_the_likeness_eval_takes_the_fit_options_of_the_photos_eval():
    """`facefit eval likeness` fits with the options `eval photos` takes, the recogniser's
    weight among them (0: the step off), and passes on only those given."""
    from facefit.cli import build_parser
    from facefit.cli.eval_fit import fit_overrides

    for command in ("photos", "likeness"):
        args = build_parser().parse_args(
            ["eval", command, "--mode", "fast", "--w-recognition", "0"]
        )
        assert fit_overrides(args) == {"mode": "fast", "w_recognition": 0.0}
