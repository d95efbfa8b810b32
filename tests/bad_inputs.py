"""A corpus of hostile and broken uploads, generated from the face fixtures (nothing stored).

Each `Case` says what a user must get: a refusal before anything is queued (HTTP status and
code), or an accepted upload whose job fails with a code, or the pipeline's own outcome for a
photo that is odd but valid (`FACE`).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tests.conftest import face_photo, faceless_photo

FACE = "FACE"  # the pipeline's outcome for a good face: succeeded, or FIT_UNAVAILABLE


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes
    status: int  # 202: accepted, else the refusal's HTTP status
    code: str  # the refusal's code, the failed job's code, or FACE
    filename: str = "photo.jpg"
    media_type: str = "image/jpeg"


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _face(size: int = 400) -> Image.Image:
    image = Image.open(io.BytesIO(face_photo()))
    image.load()
    return image.convert("RGB").resize((size, size))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int, rows: int = 1) -> bytes:
    """A PNG whose header declares width x height grey pixels, with only `rows` rows of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = (b"\0" + b"\0" * width) * rows
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


def png_bomb(side: int = 12_000) -> bytes:
    """A complete side x side black PNG (144 megapixels) compressed into 140 kB."""
    row = b"\0" + b"\0" * side
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_with_size(width: int, height: int) -> bytes:
    """The face JPEG with its frame header rewritten to declare width x height."""
    data = bytearray(_save(_face(200), "JPEG", quality=80))
    start = data.index(b"\xff\xc0")  # baseline frame header: marker, length, precision, h, w
    struct.pack_into(">HH", data, start + 5, height, width)
    return bytes(data)


def jpeg_with_exif(exif: bytes) -> bytes:
    """The face JPEG with an APP1 Exif segment holding `exif` right after SOI."""
    body = _save(_face(), "JPEG", quality=85)
    segment = b"Exif\0\0" + exif
    return body[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + body[2:]


def exif_orientation(value: int) -> bytes:
    """A little-endian TIFF block with one IFD entry: Orientation = value."""
    return (
        b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1)
        + struct.pack("<HHII", 0x0112, 3, 1, value) + struct.pack("<I", 0)
    )  # fmt: skip


def animated(fmt: str) -> bytes:
    frames = [_face(200), _face(200).transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def tiny_face() -> bytes:
    """A face dlib finds (upsampled) but well under the 80 pixels alignment needs."""
    canvas = Image.new("RGB", (500, 500), (200, 200, 200))
    canvas.paste(_face(140), (180, 180))
    return _save(canvas, "JPEG", quality=95)


def many_faces() -> bytes:
    canvas = Image.new("RGB", (1200, 400), (255, 255, 255))
    for i in range(3):
        canvas.paste(_face(400), (400 * i, 0))
    return _save(canvas, "JPEG", quality=90)


def noise() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    return _save(Image.fromarray(pixels), "PNG")


def corpus() -> list[Case]:
    """At least forty uploads, each with what the service must answer."""
    jpeg = face_photo()
    png = _save(_face(), "PNG")
    webp = _save(_face(), "WEBP", quality=80)
    sideways = _face().transpose(Image.Transpose.ROTATE_90)
    grey16 = Image.fromarray(np.asarray(_face().convert("L"), dtype=np.uint16) * 257)
    return [
        # --- not a photo at all: refused from the first bytes
        Case("empty", b"", 422, "EMPTY_FILE"),
        Case("one-byte", b"\xff", 415, "UNSUPPORTED_FORMAT"),
        Case("text", b"just some words, not a photo", 415, "UNSUPPORTED_FORMAT"),
        Case("html", b"<html><script>alert(1)</script></html>", 415, "UNSUPPORTED_FORMAT"),
        Case("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', 415,
             "UNSUPPORTED_FORMAT", "a.svg", "image/svg+xml"),
        Case("pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", 415, "UNSUPPORTED_FORMAT"),
        Case("zip", b"PK\x03\x04" + b"\0" * 100, 415, "UNSUPPORTED_FORMAT"),
        Case("elf", b"\x7fELF\x02\x01\x01" + b"\0" * 100, 415, "UNSUPPORTED_FORMAT"),
        Case("php-then-jpeg", b"<?php system($_GET['c']); ?>" + jpeg, 415, "UNSUPPORTED_FORMAT"),
        Case("gif-still", _save(_face(100), "GIF"), 415, "UNSUPPORTED_FORMAT"),
        Case("bmp", _save(_face(100), "BMP"), 415, "UNSUPPORTED_FORMAT"),
        Case("tiff", _save(_face(100), "TIFF"), 415, "UNSUPPORTED_FORMAT"),
        Case("heic-box", b"\0\0\0\x18ftypheic" + b"\0" * 64, 415, "UNSUPPORTED_FORMAT"),
        # --- animated
        Case("gif-animated", animated("GIF"), 415, "UNSUPPORTED_FORMAT"),
        Case("png-animated", animated("PNG"), 415, "UNSUPPORTED_FORMAT"),
        Case("webp-animated", animated("WEBP"), 415, "UNSUPPORTED_FORMAT"),
        # --- truncated or damaged: refused at intake, which decodes every byte
        Case("jpeg-magic-only", b"\xff\xd8\xff", 422, "CORRUPT_IMAGE"),
        Case("jpeg-first-100-bytes", jpeg[:100], 422, "CORRUPT_IMAGE"),
        Case("jpeg-half", jpeg[: len(jpeg) // 2], 422, "CORRUPT_IMAGE"),
        Case("png-signature-only", b"\x89PNG\r\n\x1a\n", 422, "CORRUPT_IMAGE"),
        Case("png-half", png[: len(png) // 2], 422, "CORRUPT_IMAGE"),
        Case("png-zero-width", png_header_only(0, 10), 422, "CORRUPT_IMAGE"),
        Case("webp-half", webp[: len(webp) // 2], 422, "CORRUPT_IMAGE"),
        # --- too large: in bytes, or in declared pixels (bombs)
        Case("15.5-MiB", b"\xff\xd8\xff" + b"\0" * (15 * 2**20 + 2**19), 413, "FILE_TOO_LARGE"),
        Case("png-bomb-144-MP", png_bomb(), 422, "IMAGE_TOO_LARGE"),
        Case("png-header-65535-square", png_header_only(65535, 65535), 422, "IMAGE_TOO_LARGE"),
        Case("jpeg-header-60000-square", jpeg_with_size(60000, 60000), 422, "IMAGE_TOO_LARGE"),
        Case("png-30000x1-strip", _save(Image.new("L", (30000, 1)), "PNG"), 202, "NO_FACE"),
        # --- odd but valid colour modes and containers: the pipeline's answer for a face
        Case("png-rgb", png, 202, FACE, "photo.png", "image/png"),
        Case("webp", webp, 202, FACE, "photo.webp", "image/webp"),
        Case("jpeg-cmyk", _save(_face().convert("CMYK"), "JPEG"), 202, FACE),
        Case("jpeg-grey", _save(_face().convert("L"), "JPEG"), 202, FACE),
        Case("png-grey-16-bit", _save(grey16, "PNG"), 202, FACE, "photo.png", "image/png"),
        Case("png-palette", _save(_face().convert("P"), "PNG"), 202, FACE),
        Case("png-rgba", _save(_face().convert("RGBA"), "PNG"), 202, FACE),
        # --- EXIF edge cases
        Case("exif-rotated-90", _save(sideways, "JPEG", exif=_exif(6)), 202, FACE),
        Case("exif-orientation-99", jpeg_with_exif(exif_orientation(99)), 202, FACE),
        Case("exif-garbage", jpeg_with_exif(b"\xde\xad\xbe\xef" * 64), 202, FACE),
        Case("exif-huge", jpeg_with_exif(exif_orientation(1) + b"\0" * 60_000), 202, FACE),
        # --- faces: none, several, too small
        Case("no-face-gradient", faceless_photo(), 202, "NO_FACE", "p.png", "image/png"),
        Case("no-face-noise", noise(), 202, "NO_FACE", "p.png", "image/png"),
        Case("tiny-face", tiny_face(), 202, "FACE_TOO_SMALL"),
        Case("three-faces", many_faces(), 202, FACE),
        # --- polyglots and lies about the type: judged by content, stored as bytes only
        Case("jpeg-with-zip-appended", jpeg + b"PK\x03\x04" + b"\0" * 200, 202, FACE),
        Case("jpeg-named-php-sent-as-html", jpeg, 202, FACE, "shell.php", "text/html"),
    ]  # fmt: skip


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()
