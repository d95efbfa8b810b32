"""Photo intake: cheap header checks and decoding to RGB, with typed errors for bad uploads.

`inspect_image` checks the header, then decodes the pixel data to its last byte (PIL, no
dlib), so that a web process refuses a truncated or damaged upload at once instead of queueing
a job that fails in the worker; a decompression bomb is refused from its declared size before
any pixel is decoded. `load_photo` decodes, applies the EXIF orientation and converts every
supported mode to (H, W, 3) uint8 RGB.

Accepted: JPEG (including the multi-picture MPO files of phone cameras: first picture), PNG and
WebP, still images only. Refused with `UNSUPPORTED_FORMAT`: GIF (even a still one: 256-colour
palettes are no face photo), BMP, TIFF, HEIC and anything else, and animated PNG/WebP. No
colour management: ICC profiles are ignored, pixels are taken as sRGB.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facefit.errors import IntakeError

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# PIL names phone-camera JPEGs with an embedded preview "MPO"; they are JPEGs to a player.
_PIL_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# Exceptions PIL raises for damaged or truncated files while parsing or decoding.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class ImageInfo:
    """What the header says: format (JPEG, PNG or WEBP), stored size, PIL mode, frame count."""

    format: str
    width: int
    height: int
    mode: str
    frames: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff_format(data: bytes) -> str | None:
    """The container format from the first bytes, or None if unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"avif"):
        return "HEIC/AVIF"
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def _check_bytes(data: bytes) -> str:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise IntakeError("The file is empty.", code="EMPTY_FILE")
    if len(data) > MAX_FILE_BYTES:
        raise IntakeError(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.",
            code="FILE_TOO_LARGE",
        )
    kind = sniff_format(bytes(data[:16]))
    if kind not in ACCEPTED_FORMATS:
        what = f"a {kind} image" if kind else "not an image we recognise"
        raise IntakeError(
            f"The file is {what}; please upload a JPEG, PNG or WebP photo.",
            code="UNSUPPORTED_FORMAT",
        )
    return kind


def _open(data: bytes) -> tuple[Image.Image, ImageInfo]:
    kind = _check_bytes(data)
    try:
        with warnings.catch_warnings():
            # Our own pixel limit applies below; PIL's warning is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # The JPEG opener also returns MPO files (phone photos with an embedded preview).
            image = Image.open(io.BytesIO(data), formats=[kind])
            frames = int(getattr(image, "n_frames", 1))
    except Image.DecompressionBombError as exc:
        raise IntakeError(
            f"The image has too many pixels (limit {MAX_PIXELS / 1e6:.0f} megapixels).",
            code="IMAGE_TOO_LARGE",
        ) from exc
    except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
        raise _damaged(kind) from exc
    info = ImageInfo(
        format=_PIL_FORMATS.get(image.format or "", kind),
        width=image.width,
        height=image.height,
        mode=image.mode,
        frames=frames,
    )
    if info.width <= 0 or info.height <= 0:
        raise IntakeError("The image header declares no pixels.", code="CORRUPT_IMAGE")
    if info.pixels > MAX_PIXELS:
        raise IntakeError(
            f"The image is {info.width}x{info.height} ({info.pixels / 1e6:.0f} megapixels); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels.",
            code="IMAGE_TOO_LARGE",
        )
    # MPO: the extra frames are previews of the same shot, not an animation.
    if info.frames > 1 and image.format != "MPO":
        raise IntakeError(
            f"The file is an animated {info.format} ({info.frames} frames); "
            "please upload a still photo.",
            code="UNSUPPORTED_FORMAT",
        )
    return image, info


def inspect_image(data: bytes) -> ImageInfo:
    """Check an upload, header and all its pixel data (no dlib); raise `IntakeError` if bad.

    Codes: EMPTY_FILE, FILE_TOO_LARGE, UNSUPPORTED_FORMAT, IMAGE_TOO_LARGE, CORRUPT_IMAGE
    (header unreadable, or pixel data truncated or damaged).
    """
    image, info = _open(data)
    try:
        if image.format in ("JPEG", "MPO"):
            # Decoded at 1/8 scale: libjpeg still reads every entropy-coded byte, so a truncated
            # or damaged scan fails just the same, but skips most of the inverse DCT. A 12 MP
            # photo takes 42 ms of CPU and 0.6 MB instead of 93 ms and 36 MB
            # (bench/intake_decode.py).
            image.draft(image.mode, (max(1, info.width // 8), max(1, info.height // 8)))
        _decode(image, info)
    finally:
        image.close()
    return info


def load_photo(data: bytes) -> np.ndarray:
    """Decode an upload to (H, W, 3) uint8 RGB, upright per EXIF, alpha flattened on white."""
    image, info = _open(data)
    _decode(image, info)
    try:
        rgb = _to_rgb(_upright(image))
    except _DECODE_ERRORS as exc:
        raise _damaged(info.format) from exc
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    return rgb


def _decode(image: Image.Image, info: ImageInfo) -> None:
    """Decode every pixel (the size was checked by `_open`); CORRUPT_IMAGE if it cannot be."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except _DECODE_ERRORS as exc:
        raise _damaged(info.format) from exc


def _damaged(kind: str) -> IntakeError:
    return IntakeError(
        f"The {kind} file is damaged or incomplete and cannot be read.", code="CORRUPT_IMAGE"
    )


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except (*_DECODE_ERRORS, KeyError) as exc:
        # A broken EXIF block should not cost the player their upload.
        log.warning("ignoring unreadable EXIF orientation: %s", exc)
        return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey: PIL's convert("L") would clip at 255; scale the full range instead.
        grey = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or grey.max() > 255 else 255.0
        grey8 = np.clip(np.rint(grey * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if mode == "F":
        grey8 = np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[:, :, 3:4] / 255.0
        flat = rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha)
        return np.clip(np.rint(flat), 0, 255).astype(np.uint8)
    if mode != "RGB":
        image = image.convert("RGB")
    return np.array(image, dtype=np.uint8)
