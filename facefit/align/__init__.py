"""Photo intake and face alignment: from an uploaded photo to a face aligned on the rig's.

Importing this package is cheap (PIL, numpy, OpenCV; no dlib): dlib and its models load on
the first alignment, once per process.

Intake error codes (`IntakeError.code`):
EMPTY_FILE, FILE_TOO_LARGE, UNSUPPORTED_FORMAT, IMAGE_TOO_LARGE, CORRUPT_IMAGE (file), then
NO_FACE, FACE_TOO_SMALL, FACE_NOT_FRONTAL (face). See `INTAKE_ERROR_CODES`.
"""

from facefit.align.intake import ImageInfo, inspect_image, load_photo
from facefit.align.photo import AlignedFace, align_photo, aligned_to_photo
from facefit.errors import IntakeError

INTAKE_ERROR_CODES = {
    "EMPTY_FILE": "the upload has no bytes",
    "FILE_TOO_LARGE": "the upload is over 15 MiB",
    "UNSUPPORTED_FORMAT": "not a JPEG, PNG or WebP file (GIF, BMP, TIFF, HEIC, text...), "
    "or an animated PNG/WebP",
    "IMAGE_TOO_LARGE": "the header declares more than 40 megapixels (checked before decoding)",
    "CORRUPT_IMAGE": "a JPEG/PNG/WebP signature but an unreadable header or truncated data",
    "NO_FACE": "dlib finds no face, also after the upsampled retry",
    "FACE_TOO_SMALL": "the largest face's detection box is under 80 photo pixels wide",
    "FACE_NOT_FRONTAL": "the estimated head yaw is over 40 degrees (a profile)",
}

__all__ = [
    "INTAKE_ERROR_CODES",
    "AlignedFace",
    "ImageInfo",
    "IntakeError",
    "align_photo",
    "aligned_to_photo",
    "inspect_image",
    "load_photo",
]
