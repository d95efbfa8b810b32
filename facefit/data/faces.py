"""Read the studio face photos of `shared/data/faces`: manifest, 189-point templates, iBUG-68.

The folder (CC BY 4.0, Face Research Lab; see its README) holds photos with human-placed
Face Research Lab 189-point templates. Alignment, extractor and fit evaluations compare
against the iBUG 68-point scheme, so this module maps templates to iBUG-68 with a mask of
the points that have a counterpart, and splits photos by identity so that no person is in
two folds.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from facefit.settings import PROJECT_ROOT

FACES_DIR_ENV = "FACEFIT_FACES_DIR"
DEFAULT_FACES_DIR = PROJECT_ROOT.parent / "shared" / "data" / "faces"
N_FRL = 189
N_IBUG = 68
# Sets whose photos all show one person: their identity is the set, not the photo id.
SINGLE_PERSON_SETS = frozenset({"lisa", "zoom"})

# iBUG-68 point groups (0-based), as used for per-group errors.
IBUG68_GROUPS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}


def faces_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the face data lives: `$FACEFIT_FACES_DIR`, else `../shared/data/faces`."""
    env = os.environ if env is None else env
    return Path(env.get(FACES_DIR_ENV, DEFAULT_FACES_DIR))


@dataclass(frozen=True)
class FaceRecord:
    """One photo of the manifest; paths are absolute."""

    set: str
    id: str
    expression: str
    image: Path
    landmarks189: Path | None
    age: int | None
    gender: str | None
    ethnicity: str | None

    @property
    def identity(self) -> str:
        """The person shown: photos with the same identity must stay in the same split."""
        return self.set if self.set in SINGLE_PERSON_SETS else f"{self.set}:{self.id}"

    @property
    def name(self) -> str:
        return f"{self.set}/{self.id}_{self.expression}"


def _optional(value: str) -> str | None:
    return None if value in ("", "NA") else value


def read_manifest(root: Path | None = None) -> list[FaceRecord]:
    """All photos listed in `manifest.csv`, in file order."""
    root = faces_dir() if root is None else Path(root)
    records = []
    with open(root / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            records.append(
                FaceRecord(
                    set=row["set"],
                    id=row["id"],
                    expression=row["expression"],
                    image=root / row["image"],
                    landmarks189=root / row["landmarks189"] if row["landmarks189"] else None,
                    age=int(row["age"]) if row["age"].isdigit() else None,
                    gender=_optional(row["gender"]),
                    ethnicity=_optional(row["ethnicity"]),
                )
            )
    return records


def read_points(path: Path) -> np.ndarray:
    """All `x y` rows of a template file as (N, 2) float64 pixel positions."""
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append([float(v) for v in line.split()[:2]])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def read_pts189(path: Path) -> np.ndarray:
    """A 189-point template as (189, 2) float64 pixel positions in its photo.

    Raises ValueError for another point count: the `lisa` (106 points) and `zoom` (83 points)
    files hold shorter templates whose scheme the README does not give.
    """
    points = read_points(path)
    if points.shape != (N_FRL, 2):
        raise ValueError(f"{path}: expected {N_FRL} points, found {len(points)}")
    return points


@cache
def _ibug68_mapping(path: Path) -> tuple[tuple[int, tuple[int, ...]], ...]:
    pairs = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            pairs.append((int(row["ibug68"]), tuple(int(v) for v in row["frl189"].split(";"))))
    return tuple(pairs)


def ibug68_from_frl189(
    points189: np.ndarray, root: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Map a 189-point template to iBUG-68: ((68, 2) float64, NaN where unmapped; (68,) bool mask).

    Uses `ibug68_from_frl189.csv`; `a;b` entries are the mean of both template points.
    """
    points189 = np.asarray(points189, dtype=np.float64)
    assert points189.shape == (N_FRL, 2), points189.shape
    root = faces_dir() if root is None else Path(root)
    points68 = np.full((N_IBUG, 2), np.nan)
    for ibug, frl in _ibug68_mapping(root / "ibug68_from_frl189.csv"):
        points68[ibug] = points189[list(frl)].mean(axis=0)
    return points68, ~np.isnan(points68[:, 0])


# Facial hair of the London set's men, labelled by eye by the team from each man's neutral
# photo (none / stubble / beard, a beard being anything longer than stubble). The manifest
# has no such column; women's photos need none (no woman there has facial hair).
FACIAL_HAIR_LABELS = Path(__file__).parent / "london_facial_hair.csv"
HAIR_LABELS = Path(__file__).parent / "london_hair.csv"
# Eyes of every London person by eye from the neutral photo: "dark" (brown), "light" (blue,
# grey or green) or "hazel" (between, or not clear at the photo's size).
EYE_LABELS = Path(__file__).parent / "london_eyes.csv"


@cache
def facial_hair_by_eye(path: Path = FACIAL_HAIR_LABELS) -> dict[str, str]:
    """Identity ("london:004") -> "none", "stubble" or "beard", for the labelled men."""
    return _by_eye(path, "facial_hair")


@cache
def hair_by_eye(path: Path = HAIR_LABELS) -> dict[str, str]:
    """Identity ("london:001") -> "curled" (curls or coils) or "straight" (straight, wavy or
    sleek), for every London person."""
    return _by_eye(path, "hair_texture")


@cache
def hair_length_by_eye(path: Path = HAIR_LABELS) -> dict[str, str]:
    """Identity ("london:001") -> how the hair is worn: "shaved" (bald or a close crop),
    "short", "tied" (back or up) or "down" (to the chin or past it), for every London person."""
    return _by_eye(path, "hair_length")


@cache
def eyes_by_eye(path: Path = EYE_LABELS) -> dict[str, str]:
    """Identity ("london:009") -> "dark", "light" or "hazel", for every London person."""
    return _by_eye(path, "eyes")


def _by_eye(path: Path, column: str) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row["identity"]: row[column] for row in csv.DictReader(f)}


# What `record_fields` gives besides the manifest's columns.
LABEL_FIELDS = ("facial_hair_by_eye",)


def record_fields(record: FaceRecord) -> dict[str, str]:
    """A photo's manifest fields as text, with its person's by-eye facial hair ("" if none)."""
    from dataclasses import asdict

    out = {k: "" if v is None else str(v) for k, v in asdict(record).items()}
    out["facial_hair_by_eye"] = facial_hair_by_eye().get(record.identity, "")
    return out


def record_field_names() -> tuple[str, ...]:
    """The keys of `record_fields`: the manifest's columns and `LABEL_FIELDS`."""
    from dataclasses import fields

    return tuple(f.name for f in fields(FaceRecord)) + LABEL_FIELDS


def read_ibug68(record: FaceRecord, root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The human-placed landmarks of one photo in iBUG-68 order, with their mask."""
    if record.landmarks189 is None:
        raise ValueError(f"{record.name} has no landmark template")
    return ibug68_from_frl189(read_pts189(record.landmarks189), root)


def with_landmarks(records: Sequence[FaceRecord]) -> list[FaceRecord]:
    """The photos that have a human-placed template file (of any point count)."""
    return [r for r in records if r.landmarks189 is not None]


def with_frl189(records: Sequence[FaceRecord]) -> list[FaceRecord]:
    """The photos whose template is a full 189-point one, so that it maps to iBUG-68."""
    return [r for r in with_landmarks(records) if len(read_points(r.landmarks189)) == N_FRL]


def identity_folds(
    records: Sequence[FaceRecord], n_folds: int = 5, seed: int = 0
) -> list[list[FaceRecord]]:
    """Split photos into `n_folds` folds so that each person is in exactly one fold.

    Identities are shuffled with `seed` and dealt round-robin, so fold sizes differ by at most
    one identity and the split is the same on every machine.
    """
    if n_folds < 2:
        raise ValueError("n_folds must be at least 2")
    identities = sorted({r.identity for r in records})
    order = np.random.default_rng(seed).permutation(len(identities))
    fold_of = {identities[i]: k % n_folds for k, i in enumerate(order)}
    folds: list[list[FaceRecord]] = [[] for _ in range(n_folds)]
    for r in records:
        folds[fold_of[r.identity]].append(r)
    return folds


def split_by_identity(
    records: Sequence[FaceRecord], holdout_fold: int = 0, n_folds: int = 5, seed: int = 0
) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """(train, held-out) photos: fold `holdout_fold` of `identity_folds` is held out."""
    folds = identity_folds(records, n_folds, seed)
    held = folds[holdout_fold]
    train = [r for k, fold in enumerate(folds) if k != holdout_fold for r in fold]
    return train, held


def fold_identities(
    fold: int = 0, n_folds: int = 5, seed: int = 0, root: Path | None = None
) -> set[str]:
    """The people of one identity fold, over everyone with a full template.

    This is the split the networks train on (`facefit.train.extractor.photo_split`); use it
    to pick held-out people among any photos, smiling ones included, so that no evaluation
    sees a person a network was trained on.
    """
    records = with_frl189(read_manifest(root))
    return {r.identity for r in identity_folds(records, n_folds, seed)[fold]}
