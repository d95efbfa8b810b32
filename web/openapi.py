"""The OpenAPI 3.1 description of the game-server API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

ERROR_CODES = [
    "UNAUTHORIZED",
    "NOT_FOUND",
    "RATE_LIMITED",
    "PAYLOAD_TOO_LARGE",
    "BAD_REQUEST",
    "EMPTY_FILE",
    "FILE_TOO_LARGE",
    "UNSUPPORTED_FORMAT",
    "IMAGE_TOO_LARGE",
    "CORRUPT_IMAGE",
    "UNAVAILABLE",
    "CSRF_FAILED",
    "INVALID_PARAMS",
    "VERSION_CONFLICT",
    "NOT_EDITABLE",
    "RIG_MISMATCH",
]
# Codes a failed job carries in `error.code`.
JOB_ERROR_CODES = [
    "CORRUPT_IMAGE",
    "NO_FACE",
    "FACE_TOO_SMALL",
    "FACE_NOT_FRONTAL",
    "FIT_UNAVAILABLE",
    "TIMEOUT",
    "WORKER_LOST",
    "INTERNAL_ERROR",
]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document() -> dict[str, Any]:
    job_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}
    nullable_object = {"type": ["object", "null"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "facefit game-server API",
            "version": "1.0.0",
            "description": "Submit a player's photo; poll the job until it has the "
            "face-sculpting parameters of the game character.",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/jobs": {
                "post": {
                    "summary": "Submit a photo to fit",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["photo"],
                                    "properties": {
                                        "photo": {"type": "string", "format": "binary"},
                                        "callback_url": {
                                            "type": "string",
                                            "format": "uri",
                                            "description": "POSTed {id, status} once finished",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Queued",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"}
                                }
                            },
                        },
                        "400": _error("BAD_REQUEST, or a photo that fails intake"),
                        "401": _error("UNAUTHORIZED"),
                        "413": _error("PAYLOAD_TOO_LARGE or FILE_TOO_LARGE"),
                        "415": _error("UNSUPPORTED_FORMAT"),
                        "422": _error("EMPTY_FILE, IMAGE_TOO_LARGE, CORRUPT_IMAGE"),
                        "429": _error("RATE_LIMITED (see Retry-After)"),
                        "503": _error("UNAVAILABLE: database restarting (see Retry-After)"),
                    },
                }
            },
            "/jobs/{id}": {
                "get": {
                    "summary": "A job's state, progress and results",
                    "parameters": [{"$ref": "#/components/parameters/JobId"}],
                    "responses": {
                        "200": {"description": "The job", **job_ref},
                        "401": _error("UNAUTHORIZED"),
                        "404": _error("NOT_FOUND"),
                        "503": _error("UNAVAILABLE: database restarting (see Retry-After)"),
                    },
                }
            },
            "/jobs/{id}/params": {
                "put": {
                    "summary": "Save edited parameters as the job's next version",
                    "description": "The edit names the version it started from; it is saved "
                    "as the next one only if that is still the newest, so two editors cannot "
                    "overwrite each other. Names the edit leaves out keep their value. Every "
                    "value is checked against the rig's spec; nothing is stored if one fails. "
                    "A job created with a callback_url gets a job_updated callback.",
                    "parameters": [{"$ref": "#/components/parameters/JobId"}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SaveParams"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Saved",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/SavedVersion"}
                                }
                            },
                        },
                        "400": _error("BAD_REQUEST: not JSON, or no base_version"),
                        "401": _error("UNAUTHORIZED"),
                        "404": _error("NOT_FOUND"),
                        "409": _error(
                            "VERSION_CONFLICT: a newer version was saved since base_version; "
                            "NOT_EDITABLE: the job did not succeed; RIG_MISMATCH"
                        ),
                        "422": _error(
                            "INVALID_PARAMS: an unknown name, a value outside [0, 1], "
                            "or an option the group does not have"
                        ),
                    },
                }
            },
            "/jobs/{id}/versions": {
                "get": {
                    "summary": "Every saved version of the job's parameters, the fit first",
                    "parameters": [{"$ref": "#/components/parameters/JobId"}],
                    "responses": {
                        "200": {
                            "description": "Versions, oldest first",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "id": {"type": "string", "format": "uuid"},
                                            "versions": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Version"},
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "401": _error("UNAUTHORIZED"),
                        "404": _error("NOT_FOUND"),
                    },
                }
            },
            "/jobs/{id}/character.glb": {
                "get": {
                    "summary": "The character of the newest version in 3D (binary glTF 2.0)",
                    "description": "The rig's mesh posed by the parameters, in metres, +Y up, "
                    "facing +Z; materials skin, lips, brows, hair, eyes, iris, mouth, shirt "
                    "with PBR base colours from the parameters; the parameters in "
                    "extras.params.",
                    "parameters": [{"$ref": "#/components/parameters/JobId"}],
                    "responses": {
                        "200": {"description": "GLB", "content": {"model/gltf-binary": {}}},
                        "401": _error("UNAUTHORIZED"),
                        "404": _error("NOT_FOUND (also: the job has not succeeded)"),
                    },
                }
            },
            "/jobs/{id}/preview.png": {
                "get": {
                    "summary": "The preview render of a succeeded job",
                    "parameters": [{"$ref": "#/components/parameters/JobId"}],
                    "responses": {
                        "200": {"description": "PNG", "content": {"image/png": {}}},
                        "401": _error("UNAUTHORIZED"),
                        "404": _error("NOT_FOUND"),
                    },
                }
            },
            "/healthz": {"get": {"security": [], "responses": {"200": {"description": "alive"}}}},
            "/readyz": {
                "get": {
                    "security": [],
                    "responses": {
                        "200": {"description": "database and broker reachable"},
                        "503": {"description": "database or broker down"},
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "JobId": {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
            },
            "schemas": {
                "Accepted": {
                    "type": "object",
                    "required": ["id", "status", "status_url"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "status": {"const": "queued"},
                        "status_url": {"type": "string"},
                    },
                },
                "Job": {
                    "type": "object",
                    "required": [
                        "id",
                        "status",
                        "progress",
                        "params",
                        "fit",
                        "error",
                        "rig",
                        "models",
                        "created_at",
                        "finished_at",
                    ],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "status": {
                            "enum": ["queued", "running", "succeeded", "failed", "cancelled"]
                        },
                        "progress": {
                            "type": "object",
                            "properties": {
                                "iteration": {"type": "integer"},
                                "max_iterations": {"type": ["integer", "null"]},
                                "loss": {"type": ["number", "null"]},
                                "similarity": {"type": ["number", "null"]},
                                "attempts": {"type": "integer"},
                            },
                        },
                        "params": {
                            **nullable_object,
                            "description": '{"rig", "continuous": {name: value}, '
                            '"discrete": {group: option}} of the newest version once succeeded',
                        },
                        "version": {
                            "type": ["integer", "null"],
                            "description": "number of the version in params: 1 is the fit, "
                            "each saved edit adds one",
                        },
                        "fitted_params": {
                            **nullable_object,
                            "description": "the fit's parameters (version 1), kept as fitted",
                        },
                        "fit": {
                            **nullable_object,
                            "description": "mode, iterations, stopped_early, loss, "
                            "similarity, real_render_loss, seconds",
                        },
                        "error": {
                            "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/ErrorBody"}]
                        },
                        "rig": {"type": ["string", "null"]},
                        "models": {**nullable_object, "description": "network -> sha256"},
                        "photo_sha256": {"type": "string"},
                        "preview_url": {"type": ["string", "null"]},
                        "created_at": {"type": "string", "format": "date-time"},
                        "started_at": {"type": ["string", "null"], "format": "date-time"},
                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "Params": {
                    "type": "object",
                    "properties": {
                        "rig": {"type": "string"},
                        "continuous": {
                            "type": "object",
                            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                        },
                        "discrete": {
                            "type": "object",
                            "additionalProperties": {"type": ["string", "integer"]},
                        },
                    },
                },
                "SaveParams": {
                    "type": "object",
                    "required": ["base_version", "params"],
                    "properties": {
                        "base_version": {"type": "integer", "minimum": 1},
                        "params": {"$ref": "#/components/schemas/Params"},
                    },
                },
                "SavedVersion": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "version": {"type": "integer"},
                        "params": {"$ref": "#/components/schemas/Params"},
                    },
                },
                "Version": {
                    "type": "object",
                    "properties": {
                        "version": {"type": "integer"},
                        "author": {"enum": ["fit", "player", "client"]},
                        "created_at": {"type": "string", "format": "date-time"},
                        "params": {"$ref": "#/components/schemas/Params"},
                    },
                },
                "ErrorBody": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "examples": ERROR_CODES + JOB_ERROR_CODES},
                        "message": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}},
                },
            },
        },
    }
