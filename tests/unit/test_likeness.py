"""The likeness measure: ranks, dlib descriptors of photos and renders, the evaluation end to end."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefit.align import load_photo
from facefit.data.faces import read_manifest
from facefit.fit.config import FitConfig
from facefit.fit.fitter import load_fitter
from facefit.likeness.descriptors import photo_descriptor, photo_landmarks, render_landmarks
from facefit.likeness.evaluate import evaluate_likeness
from facefit.likeness.facenet import facenet_descriptor
from facefit.likeness.ranking import chance, paired_change, rank_summary, target_ranks
from facefit.likeness.sheet import likeness_sheet
from facefit.settings import CoreSettings
from tests.tiny_weights import write_tiny_weights

FIXTURES = Path(__file__).parent.parent / "fixtures" / "faces"


def test_ranks_count_ties_against_the_target():
    gallery = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    queries = np.array([[0.1, 0.0], [0.5, 0.0], [0.0, 1.9]])
    # query 1 is exactly between gallery 0 and 1: a tie is not a win
    assert target_ranks(queries, gallery, [0, 1, 0]).tolist() == [1, 2, 2]
    summary = rank_summary(np.array([1, 2, 6]))
    assert summary == {"top1": pytest.approx(1 / 3), "top5": pytest.approx(2 / 3), "mean_rank": 3.0}
    assert chance(4) == {"top1": 0.25, "top5": 1.0, "mean_rank": 2.5}


def test_paired_change_counts_photos_ranked_higher_and_lower():
    change = paired_change(np.array([1, 4, 2, 3]), np.array([1, 2, 4, 1]))
    assert change["higher"] == 2 and change["lower"] == 1 and change["photos"] == 4
    assert change["mean_log_rank_change"] == pytest.approx(
        np.log([1, 0.5, 2, 1 / 3]).mean(), abs=1e-3
    )


def test_facenet_a_recogniser_the_fit_never_reads_tells_people_apart():
    records = read_manifest(FIXTURES)
    photos = [load_photo(r.image.read_bytes()) for r in records]
    photos.append(photos[0][:, ::-1].copy())  # the first person again, mirrored
    vectors = [facenet_descriptor(p, photo_landmarks(p)) for p in photos]
    assert all(v.shape == (512,) and np.linalg.norm(v) == pytest.approx(1, 1e-4) for v in vectors)
    same = np.linalg.norm(vectors[0] - vectors[3])
    others = [np.linalg.norm(vectors[i] - vectors[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert same < 0.5 * min(others), (same, others)


def test_photo_descriptors_tell_people_apart():
    records = read_manifest(FIXTURES)
    vectors = [photo_descriptor(load_photo(r.image.read_bytes())) for r in records]
    mirrored = photo_descriptor(load_photo(records[0].image.read_bytes())[:, ::-1].copy())
    assert all(v is not None and v.shape == (128,) for v in vectors)
    # dlib's rule of thumb: the same person under 0.6, different people over it
    assert np.linalg.norm(vectors[0] - mirrored) < 0.6
    assert min(np.linalg.norm(vectors[i] - vectors[j]) for i, j in ((0, 1), (0, 2), (1, 2))) > 0.6


def test_the_torch_network_gives_dlibs_own_descriptors_on_photos_and_renders(
    human_renderer, human_rig_spec
):
    import dlib

    from facefit.align.models import FACE_RECOGNISER, verified_model_path
    from facefit.likeness.descriptors import face_descriptor

    dlibs = dlib.face_recognition_model_v1(str(verified_model_path(FACE_RECOGNISER)))
    faces = [load_photo(r.image.read_bytes()) for r in read_manifest(FIXTURES)]
    faces = [(p, photo_landmarks(p)) for p in faces]
    render = human_renderer(512).render(human_rig_spec.encode({}))
    faces.append((render.image, render_landmarks(render.image, render.landmarks68)[0]))
    for image, landmarks in faces:
        (left, top), (right, bottom) = landmarks.min(axis=0), landmarks.max(axis=0)
        rect = dlib.rectangle(round(left), round(top), round(right), round(bottom))
        shape = dlib.full_object_detection(
            rect, [dlib.point(round(x), round(y)) for x, y in landmarks]
        )
        expected = np.asarray(dlibs.compute_face_descriptor(image, shape))
        assert np.abs(face_descriptor(image, landmarks) - expected).max() < 1e-5


def test_a_render_without_a_detectable_face_is_placed_by_the_rig_landmarks():
    blank = np.full((256, 256, 3), 128, np.uint8)
    landmarks = np.stack(np.meshgrid(np.linspace(80, 176, 17), np.linspace(90, 190, 4)), -1)
    rig_landmarks = landmarks.reshape(-1, 2)[:68]
    found, detected = render_landmarks(blank, rig_landmarks)
    assert not detected and found.shape == (68, 2)
    # dlib's landmarks are looked for inside the box of the rig's own
    assert (found.min(axis=0) >= rig_landmarks.min(axis=0) - 20).all()
    assert (found.max(axis=0) <= rig_landmarks.max(axis=0) + 20).all()


@pytest.fixture(scope="module")
def fitter(tmp_path_factory):
    weights = write_tiny_weights(tmp_path_factory.mktemp("weights"))
    settings = replace(CoreSettings.from_env({}), device="cpu", weights_dir=weights)
    return load_fitter(settings, FitConfig(max_iters=1, threshold=1.0))


def test_likeness_ranks_each_character_against_everyone(fitter, tmp_path):
    records = read_manifest(FIXTURES)
    people, distractor = records[:2], records[2]
    smiling = []  # a second photo per person: the mirrored neutral one
    for record in people:
        path = tmp_path / f"{record.id}_smiling.png"
        Image.open(record.image).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)
        smiling.append(replace(record, expression="smiling", image=path, landmarks189=None))
    report = evaluate_likeness(fitter, people + smiling, [distractor], render_size=256)
    queries = report.pop("_queries")
    assert report["people"] == 2 and report["distractors"] == 1 and report["ranked"] == 4
    assert report["all"]["gallery"] == 3 and report["all"]["chance"]["top1"] == pytest.approx(1 / 3)
    assert report["all"]["photo"]["top1"] == 1.0  # the recogniser's own ceiling
    assert report["facenet"]["all"]["photo"]["top1"] == 1.0
    assert report["facenet"]["heldout_fold0"]["queries"] == report["heldout_fold0"]["queries"]
    assert all(1 <= row["rank_fit"] <= 3 for row in report["rows"])
    assert all(1 <= row["facenet_rank_fit"] <= 3 for row in report["rows"])
    assert all(1 <= row["rank_average_face"] <= 3 for row in report["rows"])
    assert 0.0 <= report["render_detected"] <= 1.0
    skin = report["skin_delta_e"]
    assert 0.0 <= skin["mean"] <= skin["p90"] and 0.0 <= skin["within_6"] <= 1.0
    assert report["facial_hair_on_women"].endswith("/2")  # london 001's two photos
    subsets = report["training_folds"]["queries"] + report["heldout_fold0"]["queries"]
    assert subsets == 4
    likeness_sheet(queries, 3, tmp_path / "sheet.png")
    assert Image.open(tmp_path / "sheet.png").width == 4 * 2 * 192
