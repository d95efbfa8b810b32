"""Face alignment: landmarks where a person put them, warped onto the rig's reference face."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facefit.align import AlignedFace, IntakeError, align_photo, aligned_to_photo
from facefit.align.quality import (
    _HEAD_MODEL,
    _POSE_POINTS,
    MAX_YAW_DEG,
    assess_quality,
    yaw_pitch_degrees,
)
from facefit.align.target import default_target_landmarks
from facefit.align.transform import apply_transform, fit_affine, fit_similarity, invert_transform
from facefit.data.faces import ibug68_from_frl189, read_pts189

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
PHOTOS = sorted(FIXTURES.glob("london_*_neutral.jpg"))
HAS_RIG_REFERENCE = importlib.util.find_spec("facefit.rig.reference") is not None

pytestmark = pytest.mark.timeout(60)


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def human_ibug68(photo: Path) -> tuple[np.ndarray, np.ndarray]:
    return ibug68_from_frl189(read_pts189(photo.with_suffix(".pts189")), FIXTURES)


@pytest.fixture(scope="module")
def target() -> np.ndarray:
    """The rig's reference landmarks when the rig provides them, else the stand-in."""
    return default_target_landmarks(512)


@pytest.fixture(scope="module")
def aligned(target) -> list[AlignedFace]:
    return [align_photo(path.read_bytes(), target_landmarks=target) for path in PHOTOS]


def test_landmarks_are_close_to_the_human_ones(aligned):
    for path, face in zip(PHOTOS, aligned, strict=True):
        human, mask = human_ibug68(path)
        eye_span = np.linalg.norm(human[45] - human[36])
        errors = np.linalg.norm(face.photo_landmarks68[mask] - human[mask], axis=1) / eye_span
        assert errors.mean() < 0.06, (path.name, errors.mean())


def test_aligned_photo_has_the_reference_size_and_feature_positions(aligned, target):
    for face in aligned:
        assert face.image.shape == (512, 512, 3) and face.image.dtype == np.uint8
        assert face.faces_found == 1
        assert face.residual < 0.06 * np.linalg.norm(target[45] - target[36])
        eyes = face.aligned_landmarks68[36:48].reshape(2, 6, 2).mean(axis=1)
        target_eyes = target[36:48].reshape(2, 6, 2).mean(axis=1)
        assert np.abs(eyes - target_eyes).max() < 12


def test_transform_maps_photo_landmarks_and_pixels_into_the_frame(aligned):
    face = aligned[0]
    assert face.transform.shape == (2, 3)
    np.testing.assert_allclose(
        apply_transform(face.photo_landmarks68, face.transform), face.aligned_landmarks68
    )
    np.testing.assert_allclose(
        face.to_photo(face.aligned_landmarks68), face.photo_landmarks68, atol=1e-9
    )
    # The pixel under an aligned landmark is the photo's pixel under the photo landmark.
    photo = rgb(PHOTOS[0])
    for k in (30, 36, 45, 48):
        x, y = np.rint(face.aligned_landmarks68[k]).astype(int)
        px, py = np.rint(aligned_to_photo(np.array([[x, y]], float), face.transform)[0]).astype(int)
        assert np.abs(face.image[y, x].astype(int) - photo[py, px]).max() < 40


def test_roll_is_corrected_by_the_warp(target):
    photo = rgb(PHOTOS[1])
    h, w = photo.shape[:2]
    tilt = cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0)
    tilted = cv2.warpAffine(photo, tilt, (w, h), borderMode=cv2.BORDER_REPLICATE)
    straight = align_photo(photo, target_landmarks=target)
    rotated = align_photo(tilted, target_landmarks=target)
    assert abs(rotated.quality["roll"] + 25) < 4
    assert "FACE_TILTED" in rotated.quality["warnings"]
    shift = np.linalg.norm(rotated.aligned_landmarks68 - straight.aligned_landmarks68, axis=1)
    assert np.median(shift[17:]) < 4


def test_exif_rotated_upload_aligns_like_the_upright_one(aligned, target):
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(rgb(PHOTOS[0]), k=-1)))
    exif = Image.Exif()
    exif[0x0112] = 8
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    face = align_photo(buffer.getvalue(), target_landmarks=target)
    assert (
        np.median(np.linalg.norm(face.photo_landmarks68 - aligned[0].photo_landmarks68, axis=1)) < 3
    )


def test_two_faces_take_the_largest_and_count_both(target):
    left = rgb(PHOTOS[0])
    right = cv2.resize(rgb(PHOTOS[2]), (270, 270), interpolation=cv2.INTER_AREA)
    canvas = np.full((384, 384 + 300, 3), 200, np.uint8)
    canvas[:, :384] = left
    canvas[57:327, 414:684] = right
    face = align_photo(canvas, target_landmarks=target)
    assert face.faces_found == 2
    assert "MULTIPLE_FACES" in face.quality["warnings"]
    assert face.photo_landmarks68[:, 0].max() < 384


def test_photo_without_a_face_is_refused():
    rng = np.random.default_rng(0)
    gradient = np.linspace(40, 220, 400)[None, :, None] * np.ones((300, 1, 3))
    noise = rng.normal(0, 8, (300, 400, 3))
    photo = np.clip(gradient + noise, 0, 255).astype(np.uint8)
    with pytest.raises(IntakeError) as caught:
        align_photo(photo)
    assert caught.value.code == "NO_FACE"


def test_tiny_face_is_refused():
    small = cv2.resize(rgb(PHOTOS[0]), (180, 180), interpolation=cv2.INTER_AREA)
    canvas = np.full((360, 480, 3), 180, np.uint8)
    canvas[90:270, 150:330] = small
    with pytest.raises(IntakeError) as caught:
        align_photo(canvas)
    assert caught.value.code == "FACE_TOO_SMALL"


def test_blurred_photo_gets_a_warning_not_an_error(target):
    blurred = cv2.GaussianBlur(rgb(PHOTOS[0]), (0, 0), 3)
    face = align_photo(blurred, target_landmarks=target)
    assert "BLURRY" in face.quality["warnings"]


def test_sharp_frontal_photos_get_no_warnings(aligned):
    for face in aligned:
        assert face.quality["warnings"] == []
        assert abs(face.quality["yaw"]) < 15 and abs(face.quality["roll"]) < 5
        assert min(face.quality["eye_open_ratio_left"], face.quality["eye_open_ratio_right"]) > 0.2


def project_head(yaw_deg: float) -> np.ndarray:
    """68 landmarks (only the six pose points set) of the generic head turned by `yaw_deg`."""
    t = np.radians(yaw_deg)
    rotation = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    points = _HEAD_MODEL @ rotation.T + [0.0, 0.0, 3000.0]
    landmarks = np.zeros((68, 2))
    landmarks[list(_POSE_POINTS)] = points[:, :2] / points[:, 2:] * 800 + 256
    return landmarks


@pytest.mark.parametrize("yaw", [-30.0, 0.0, 15.0, 35.0])
def test_yaw_estimate_recovers_the_head_turn(yaw):
    estimate, pitch = yaw_pitch_degrees(project_head(-yaw), (512, 512))
    assert abs(estimate - yaw) < 1 and abs(pitch) < 3


def test_profile_is_refused_as_not_frontal():
    landmarks = project_head(MAX_YAW_DEG + 15)
    image = np.zeros((512, 512, 3), np.uint8)
    with pytest.raises(IntakeError) as caught:
        assess_quality(landmarks, (512, 512), image, landmarks, 1)
    assert caught.value.code == "FACE_NOT_FRONTAL"


def test_to_json_is_the_landmarks_document(aligned):
    document = aligned[0].to_json()
    assert set(document) == {
        "faces_found",
        "photo_landmarks68",
        "aligned_landmarks68",
        "transform",
        "residual",
        "quality",
    }
    assert np.asarray(document["photo_landmarks68"]).shape == (68, 2)
    assert np.asarray(document["transform"]).shape == (2, 3)
    assert isinstance(document["quality"]["warnings"], list)


def test_output_size_follows_the_target_frame(target):
    face = align_photo(rgb(PHOTOS[0]), target_landmarks=target / 2, size=256)
    assert face.image.shape == (256, 256, 3)
    assert face.residual < 8


def test_similarity_and_affine_fits_recover_a_known_map():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 500, (68, 2))
    angle, scale = np.radians(12), 1.7
    similarity = np.array(
        [
            [scale * np.cos(angle), -scale * np.sin(angle), 30],
            [scale * np.sin(angle), scale * np.cos(angle), -5],
        ]
    )
    np.testing.assert_allclose(
        fit_similarity(src, apply_transform(src, similarity)), similarity, atol=1e-9
    )
    affine = np.array([[1.2, 0.3, 4.0], [-0.1, 0.8, 9.0]])
    np.testing.assert_allclose(fit_affine(src, apply_transform(src, affine)), affine, atol=1e-9)
    np.testing.assert_allclose(
        apply_transform(apply_transform(src, affine), invert_transform(affine)), src, atol=1e-9
    )


@pytest.mark.skipif(not HAS_RIG_REFERENCE, reason="the rig has no reference face yet")
def test_default_target_is_the_rig_reference():
    from facefit.rig.reference import reference_landmarks68

    np.testing.assert_allclose(default_target_landmarks(512), reference_landmarks68(512))


def test_closed_eyes_are_a_warning(aligned):
    face = aligned[0]
    landmarks = face.photo_landmarks68.copy()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        middle = (landmarks[upper] + landmarks[lower]) / 2
        landmarks[upper], landmarks[lower] = middle - [0, 0.5], middle + [0, 0.5]
    report = assess_quality(landmarks, (384, 384), face.image, face.aligned_landmarks68, 1)
    assert report["eyes_closed"] and "EYES_CLOSED" in report["warnings"]
    assert report["eye_open_ratio_left"] < 0.05
