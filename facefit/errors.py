"""Typed errors with stable codes, raised at the boundaries (intake, models, CLI input)."""

from __future__ import annotations


class FacefitError(Exception):
    """An error a user or a calling service can act on: a stable `code` and a human message."""

    code = "FACEFIT_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class IntakeError(FacefitError):
    """A photo that cannot be fitted: bad file, no usable face. Codes are documented in the README."""

    code = "BAD_IMAGE"


class SpecError(FacefitError):
    """Parameters that do not match the rig's spec (unknown name, out of range, wrong rig)."""

    code = "BAD_PARAMS"


class ExportError(FacefitError):
    """A character file the rig cannot write: only rigs 2.2 and 3 have a glTF export."""

    code = "GLTF_UNAVAILABLE"


class ModelError(FacefitError):
    """Weights missing, corrupt, or trained for another rig version."""

    code = "MODEL_MISMATCH"
