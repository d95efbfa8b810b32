"""`facefit eval likeness`: fit each photo, render the character on the real rig, and ask dlib's
recogniser whether the character is closest to the same person's other photo.

dlib is the judge the product's targets are set in; the fit's last step reads it too. So every
rank is also taken by FaceNet (`facefit.likeness.facenet`), which the fit never reads: a gain
FaceNet does not share is dlib's alone.

The gallery of a query is the other-expression photo of every person plus distractor photos
(another set's people); the query's target is its own person's other photo. Baselines:
the average face (one character for everyone), the fit's colours and styles on the average
shape (what the shape adds), and the query photo itself (the recogniser's own ceiling).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from facefit.align import load_photo
from facefit.data.faces import FaceRecord, fold_identities
from facefit.errors import FacefitError
from facefit.fit.identity import is_shape_control
from facefit.fit.skin_regions import cheek_lab
from facefit.likeness.descriptors import face_descriptor, photo_landmarks, render_landmarks
from facefit.likeness.facenet import NAME as FACENET
from facefit.likeness.facenet import facenet_descriptor
from facefit.likeness.ranking import chance, rank_summary, target_ranks

VARIANTS = ("fit", "average_shape", "average_face", "photo")
RECOGNISERS = {"dlib": face_descriptor, "facenet": facenet_descriptor}
THUMB = 192  # px of the pictures kept for the contact sheet
FAR = 1e6  # every entry of a gallery photo in which dlib found no face: never nearest
Progress = Callable[[int], None]


@dataclass
class Query:
    """One fitted photo: each recogniser's reading per variant, and what a person would see."""

    record: FaceRecord
    descriptors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    row: dict[str, Any] = field(default_factory=dict)
    thumbs: tuple[np.ndarray, np.ndarray] | None = None  # aligned photo, character


def paired_people(records: Sequence[FaceRecord]) -> dict[str, dict[str, FaceRecord]]:
    """identity -> {expression: record}, for the people photographed with two expressions."""
    people: dict[str, dict[str, FaceRecord]] = {}
    for record in records:
        people.setdefault(record.identity, {})[record.expression] = record
    return {who: photos for who, photos in sorted(people.items()) if len(photos) == 2}


def evaluate_likeness(
    fitter,
    records: Sequence[FaceRecord],
    distractors: Sequence[FaceRecord],
    render_size: int = 512,
    progress: Progress | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Fit `records` (people with two photos), rank their characters; see the module doc."""
    from facefit.rig.choice import make_renderer

    people = paired_people(records)
    renderer = make_renderer(render_size)
    spec = fitter.spec
    shape = np.array([is_shape_control(c) for c in spec.continuous])
    mean = spec.mean_vector()
    average = renderer.render(mean)
    average_face = read_render(average)[0]

    photos = {r.name: read_photo(load_photo(r.image.read_bytes())) for r in distractors}
    queries: list[Query] = []
    failures: Counter[str] = Counter()
    for expressions in people.values():
        for record in expressions.values():
            pixels = load_photo(record.image.read_bytes())
            photos[record.name] = read_photo(pixels)
            query = Query(record)
            try:
                _fit_query(query, pixels, fitter, renderer, shape, mean, overrides)
            except FacefitError as exc:
                failures[exc.code] += 1
                query.row["error"] = exc.code
            query.descriptors["average_face"] = average_face
            query.descriptors["photo"] = photos[record.name]
            queries.append(query)
            if progress:
                progress(1)

    ranked = [q for q in queries if "error" not in q.row and _has_gallery(q, people, photos)]
    distractor_names = [r.name for r in distractors if photos[r.name] is not None]
    for recogniser, variant in ((r, v) for r in RECOGNISERS for v in VARIANTS):
        ranks = gallery_ranks(ranked, variant, recogniser, people, photos, distractor_names)
        for q, rank in zip(ranked, ranks, strict=True):
            q.row[rank_key(recogniser, variant)] = int(rank)
    gallery = len(people) + len(distractor_names)
    report: dict[str, Any] = {
        "recogniser": "dlib_face_recognition_resnet_model_v1 (face-recognition-models 0.3.0)",
        "render_size": render_size,
        "people": len(people),
        "distractors": len(distractor_names),
        "queries": len(queries),
        "ranked": len(ranked),
        "failed": dict(failures),
        "render_detected": float(np.mean([q.row["detected"] for q in ranked])) if ranked else None,
        "skin_delta_e": _skin_summary([q.row["skin_delta_e"] for q in ranked]),
        "facial_hair_on_women": _women_with_facial_hair(ranked),
    }
    report |= _rank_summaries(ranked, gallery, "dlib")
    report["facenet"] = {"recogniser": FACENET} | _rank_summaries(ranked, gallery, "facenet")
    report["rows"] = [q.row for q in queries]
    report["_queries"] = queries  # for the contact sheet; dropped before JSON
    return report


def _fit_query(query, pixels, fitter, renderer, shape, mean, overrides) -> None:
    """Fit one photo; store its character's and its average-shape twin's descriptors."""
    t0 = time.perf_counter()
    result = fitter.fit_photo(pixels, **overrides)
    seconds = time.perf_counter() - t0
    vec = fitter.spec.encode(result.params)
    character = renderer.render(vec)
    query.descriptors["fit"], detected = read_render(character)
    plain = vec.copy()
    plain[: len(shape)][shape] = mean[: len(shape)][shape]
    query.descriptors["average_shape"] = read_render(renderer.render(plain))[0]
    character_cheeks = cheek_lab(character.image, character.landmarks68)
    record = query.record
    query.row.update(
        photo=record.name,
        identity=record.identity,
        expression=record.expression,
        gender=record.gender,
        ethnicity=record.ethnicity,
        seconds=seconds,
        detected=detected,
        skin_delta_e=float(np.linalg.norm(result.photo_cheek_lab() - character_cheeks)),
        discrete=result.params["discrete"],
        continuous=result.params["continuous"],
    )
    small = (THUMB, THUMB)
    query.thumbs = (
        cv2.resize(result.aligned, small, interpolation=cv2.INTER_AREA),
        cv2.resize(character.image, small, interpolation=cv2.INTER_AREA),
    )


def read_photo(photo: np.ndarray) -> dict[str, np.ndarray] | None:
    """Every recogniser's reading of a photo's largest face, None where dlib finds no face."""
    landmarks = photo_landmarks(photo)
    if landmarks is None:
        return None
    return {name: describe(photo, landmarks) for name, describe in RECOGNISERS.items()}


def read_render(render) -> tuple[dict[str, np.ndarray], bool]:
    """Every recogniser's reading of a rig render, and whether dlib's detector found its face."""
    landmarks, detected = render_landmarks(render.image, render.landmarks68)
    return {name: see(render.image, landmarks) for name, see in RECOGNISERS.items()}, detected


def rank_key(recogniser: str, variant: str) -> str:
    """A row's field for one rank: dlib's ranks keep the measure's original names."""
    return f"rank_{variant}" if recogniser == "dlib" else f"{recogniser}_rank_{variant}"


def other_photo(record: FaceRecord, people: dict[str, dict[str, FaceRecord]]) -> FaceRecord:
    """The photo of `record`'s person with the other expression: the query's target."""
    return next(r for e, r in people[record.identity].items() if e != record.expression)


def _has_gallery(query: Query, people, photos) -> bool:
    """The query's photo and its person's other photo were both found by dlib."""
    return (
        photos[query.record.name] is not None
        and photos[other_photo(query.record, people).name] is not None
    )


def _rank_summaries(ranked: list[Query], gallery: int, recogniser: str) -> dict[str, Any]:
    """One recogniser's top-1, top-5 and mean rank per variant: over all ranked queries, the
    training folds and the held-out fold, as `facefit eval photos` splits them."""
    held = fold_identities(0)
    report: dict[str, Any] = {}
    for name, keep in (("all", None), ("training_folds", False), ("heldout_fold0", True)):
        subset = [q for q in ranked if keep is None or (q.record.identity in held) == keep]
        report[name] = {"queries": len(subset), "gallery": gallery, "chance": chance(gallery)}
        for variant in VARIANTS if subset else ():
            ranks = np.array([q.row[rank_key(recogniser, variant)] for q in subset])
            report[name][variant] = rank_summary(ranks)
    return report


def gallery_ranks(
    queries: list[Query], variant: str, recogniser: str, people, photos, distractors: list[str]
) -> list[int]:
    """Each query's rank against the other-expression photos of everyone plus the distractors."""
    ranks = [0] * len(queries)
    who = list(people)
    for expression in {q.record.expression for q in queries}:
        mine = [i for i, q in enumerate(queries) if q.record.expression == expression]
        others = [next(r for e, r in people[w].items() if e != expression) for w in who]
        names = [r.name for r in others] + distractors
        found = np.stack([queries[i].descriptors[variant][recogniser] for i in mine])
        far = np.full(found.shape[1], FAR)
        gallery = np.stack([far if photos[n] is None else photos[n][recogniser] for n in names])
        targets = [who.index(queries[i].record.identity) for i in mine]
        for i, rank in zip(mine, target_ranks(found, gallery, targets), strict=True):
            ranks[i] = int(rank)
    return ranks


def _skin_summary(distances: list[float]) -> dict[str, float] | None:
    """CIE Lab distances of characters' cheeks to their photos': the mean, the 90th
    percentile, and the share within 6 (the likeness target: 90 % of photos)."""
    if not distances:
        return None
    d = np.asarray(distances)
    return {
        "mean": round(float(d.mean()), 2),
        "p90": round(float(np.percentile(d, 90)), 2),
        "within_6": round(float((d <= 6.0).mean()), 3),
    }


def _women_with_facial_hair(queries: list[Query]) -> str:
    women = [q for q in queries if q.record.gender == "female"]
    given = sum(q.row["discrete"].get("facial_hair", "none") != "none" for q in women)
    return f"{given}/{len(women)}"
