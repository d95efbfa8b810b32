"""The OpenAPI 3.1 description of the game-server API, served at /openapi.json.

One entry of `OPERATIONS` per route: its statuses and, for each error status, the exact codes
the service can answer with there (a client can switch on them). `tests/integration/
test_openapi.py` runs schemathesis, with all its checks, against the running service to keep
this document and the service's behaviour the same.
"""

from __future__ import annotations

from typing import Any

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


def _schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = {
            name.replace("_", "-"): {
                "description": text,
                "required": True,
                "schema": {"type": "string"},
            }
            for name, text in headers.items()
        }
    return response


def error(description: str, *codes: str, **headers: str) -> dict[str, Any]:
    """An error response whose `error.code` is one of `codes`, with its required headers."""
    schema = {
        "allOf": [_schema("Error")],
        "properties": {"error": {"properties": {"code": {"enum": list(codes)}}}},
    }
    return _json(schema, description, **headers)


UNAUTHORIZED = error(
    "No valid bearer token",
    "UNAUTHORIZED",
    WWW_Authenticate='Bearer realm="facefit"',
)
NOT_FOUND = error("No such job, or not this client's (the same answer)", "NOT_FOUND")
UNAVAILABLE = error(
    "The database is restarting; repeat after Retry-After seconds",
    "UNAVAILABLE",
    Retry_After="Seconds to wait",
)
JOB_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}

SUBMIT_JOB = {
    "operationId": "submitJob",
    "summary": "Submit a photo to fit",
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["photo"],
                    "properties": {
                        "photo": {
                            "type": "string",
                            "format": "binary",
                            "description": "A JPEG, PNG or WebP photo, at most 15 MB and "
                            "40 megapixels; checked from its content, decoded in full",
                        },
                        "callback_url": {
                            "type": "string",
                            "pattern": r"^([Hh][Tt][Tt][Pp][Ss]?://[\s\S]+)?$",
                            "maxLength": 2000,
                            "description": "Receives signed callbacks "
                            '{"type", "job_id", "status"} (docs/webhooks.md); https in '
                            "production, public addresses only; empty for none",
                        },
                    },
                }
            }
        },
    },
    "responses": {
        "202": {
            **_json(_schema("Accepted"), "Queued", Location="The job's URL (status_url)"),
            # Not to the preview: it exists only once the job has succeeded.
            "links": {
                "GetJob": {"operationId": "getJob", "parameters": {"id": "$response.body#/id"}},
            },
        },
        "400": error(
            "No `photo` field or a malformed body (BAD_REQUEST); a callback_url that is "
            "malformed or not http(s) (CALLBACK_URL_INVALID), resolves to a loopback, private "
            "or other non-public address (CALLBACK_URL_FORBIDDEN), or does not resolve "
            "(CALLBACK_URL_UNRESOLVED)",
            "BAD_REQUEST",
            "CALLBACK_URL_INVALID",
            "CALLBACK_URL_FORBIDDEN",
            "CALLBACK_URL_UNRESOLVED",
        ),
        "401": UNAUTHORIZED,
        "413": error("The body or the photo is too large", "PAYLOAD_TOO_LARGE", "FILE_TOO_LARGE"),
        "415": error("Not a JPEG, PNG or WebP still photo", "UNSUPPORTED_FORMAT"),
        "422": error(
            "A photo that cannot be fitted: empty, too many pixels, damaged or incomplete",
            "EMPTY_FILE",
            "IMAGE_TOO_LARGE",
            "CORRUPT_IMAGE",
        ),
        "429": error(
            "Too many jobs this minute", "RATE_LIMITED", Retry_After="Seconds until a slot frees"
        ),
        "503": UNAVAILABLE,
    },
}

GET_JOB = {
    "operationId": "getJob",
    "summary": "A job's state, progress and results",
    "parameters": [JOB_ID],
    "responses": {
        "200": _json(_schema("Job"), "The job"),
        "401": UNAUTHORIZED,
        "404": NOT_FOUND,
        "503": UNAVAILABLE,
    },
}

GET_PREVIEW = {
    "operationId": "getPreview",
    "summary": "The preview render of a succeeded job",
    "parameters": [JOB_ID],
    "responses": {
        "200": {
            "description": "PNG",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        "401": UNAUTHORIZED,
        "404": NOT_FOUND,
        "503": UNAVAILABLE,
    },
}

LIST_DELIVERIES = {
    "operationId": "listDeliveries",
    "summary": "The job's callbacks and every attempt to deliver them",
    "parameters": [JOB_ID],
    "responses": {
        "200": _json(
            {
                "type": "object",
                "required": ["deliveries"],
                "properties": {"deliveries": {"type": "array", "items": _schema("Delivery")}},
            },
            "Callbacks, oldest first",
        ),
        "401": UNAUTHORIZED,
        "404": NOT_FOUND,
        "503": UNAVAILABLE,
    },
}

REDELIVER = {
    "operationId": "redeliver",
    "summary": "Send a callback again now (same webhook-id, one more attempt)",
    "parameters": [
        JOB_ID,
        {"name": "webhook_id", "in": "path", "required": True, "schema": {"type": "string"}},
    ],
    "responses": {
        "202": _json(_schema("Delivery"), "Queued"),
        "401": UNAUTHORIZED,
        "404": NOT_FOUND,
        "503": UNAVAILABLE,
    },
}

SAVE_PARAMS = {
    "operationId": "saveParams",
    "summary": "Save edited parameters as the job's next version",
    "description": "The edit names the version it started from; it is saved as the next one "
    "only if that is still the newest, so two editors cannot overwrite each other. Names the "
    "edit leaves out keep their value. Every value is checked against the rig's spec; nothing "
    "is stored if one fails. A job created with a callback_url gets a job.updated callback.",
    "parameters": [JOB_ID],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _schema("SaveParams")}},
    },
    "responses": {
        "200": _json(_schema("SavedVersion"), "Saved"),
        "400": error("Not JSON, or no base_version", "BAD_REQUEST"),
        "401": UNAUTHORIZED,
        "404": NOT_FOUND,
        "409": error(
            "A newer version was saved since base_version (VERSION_CONFLICT), the job did not "
            "succeed (NOT_EDITABLE), or the edit names another rig (RIG_MISMATCH)",
            "VERSION_CONFLICT",
            "NOT_EDITABLE",
            "RIG_MISMATCH",
        ),
        "422": error(
            "An unknown name, a value outside [0, 1], or an option the group does not have",
            "INVALID_PARAMS",
        ),
        "503": UNAVAILABLE,
    },
}

LIST_VERSIONS = {
    "operationId": "listVersions",
    "summary": "Every saved version of the job's parameters, the fit first",
    "parameters": [JOB_ID],
    "responses": {
        "200": _json(
            {
                "type": "object",
                "required": ["id", "versions"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "versions": {"type": "array", "items": _schema("Version")},
                },
            },
            "Versions, oldest first",
        ),
        "401": UNAUTHORIZED,
        "404": NOT_FOUND,
        "503": UNAVAILABLE,
    },
}

GET_CHARACTER = {
    "operationId": "getCharacter",
    "summary": "The character of the newest version in 3D (binary glTF 2.0)",
    "description": "The rig's mesh posed by the parameters, in metres, +Y up, facing +Z; "
    "materials with PBR base colours from the parameters (rig 2.2: skin, lips, brows, hair, "
    "eyes, iris, mouth, shirt; rig 3: skin, lips, scalp, beard, eyes, iris, lashes, brows, "
    "hair); the parameters in extras.params.",
    "parameters": [JOB_ID],
    "responses": {
        "200": {
            "description": "GLB",
            "content": {"model/gltf-binary": {"schema": {"type": "string", "format": "binary"}}},
        },
        "401": UNAUTHORIZED,
        "404": NOT_FOUND,
        "501": error("The service's rig has no glTF export", "GLTF_UNAVAILABLE"),
        "503": UNAVAILABLE,
    },
}

PUBLIC = {"security": []}  # no token: liveness, readiness, this document

HEALTHZ = {
    **PUBLIC,
    "operationId": "healthz",
    "summary": "Liveness: the process answers",
    "responses": {"200": _json(_schema("Health"), "alive")},
}

READYZ = {
    **PUBLIC,
    "operationId": "readyz",
    "summary": "Readiness: the database and the broker answer",
    "responses": {
        "200": _json(_schema("Readiness"), "database and broker reachable"),
        "503": _json(_schema("Readiness"), "database or broker down"),
    },
}

OPENAPI = {
    **PUBLIC,
    "operationId": "openapi",
    "summary": "This document",
    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
}

# (path, method, operation): one line per route.
OPERATIONS = [
    ("/jobs", "post", SUBMIT_JOB),
    ("/jobs/{id}", "get", GET_JOB),
    ("/jobs/{id}/preview.png", "get", GET_PREVIEW),
    ("/jobs/{id}/params", "put", SAVE_PARAMS),
    ("/jobs/{id}/versions", "get", LIST_VERSIONS),
    ("/jobs/{id}/character.glb", "get", GET_CHARACTER),
    ("/jobs/{id}/deliveries", "get", LIST_DELIVERIES),
    ("/jobs/{id}/deliveries/{webhook_id}/redeliver", "post", REDELIVER),
    ("/healthz", "get", HEALTHZ),
    ("/readyz", "get", READYZ),
    ("/openapi.json", "get", OPENAPI),
]

NULLABLE_OBJECT = {"type": ["object", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS = {
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
            "version",
            "fitted_params",
            "photo_sha256",
            "preview_url",
            "created_at",
            "started_at",
            "finished_at",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
            "progress": {
                "type": "object",
                "required": ["iteration", "max_iterations", "loss", "similarity", "attempts"],
                "properties": {
                    "iteration": {"type": "integer"},
                    "max_iterations": {"type": ["integer", "null"]},
                    "loss": {"type": ["number", "null"]},
                    "similarity": {"type": ["number", "null"]},
                    "attempts": {"type": "integer"},
                },
            },
            "params": {
                **NULLABLE_OBJECT,
                "description": '{"rig", "continuous": {name: value}, '
                '"discrete": {group: option}} of the newest version once succeeded',
            },
            "version": {
                "type": ["integer", "null"],
                "description": "number of the version in params: 1 is the fit, each saved "
                "edit adds one",
            },
            "fitted_params": {
                **NULLABLE_OBJECT,
                "description": "the fit's parameters (version 1), kept as fitted",
            },
            "fit": {
                **NULLABLE_OBJECT,
                "description": "how the fit went: mode, iterations, stopped_early, loss, "
                "similarity, real_render_loss, seconds, runner_ups (mode fast judges nothing: "
                "its loss, similarity and real_render_loss are null)",
                "properties": {
                    "runner_ups": {
                        "type": "object",
                        "description": "{group: every option of the group, the fitted one "
                        "first, then the others as the fit's evidence ranks them (their "
                        "renders against the photo, a reader's or the search's weights)}",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "error": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "allOf": [_schema("ErrorBody")],
                        # The fitting engine's codes: these, and any it adds later.
                        "properties": {"code": {"examples": JOB_ERROR_CODES}},
                    },
                ]
            },
            "rig": {"type": ["string", "null"]},
            "models": {**NULLABLE_OBJECT, "description": "network -> sha256"},
            "photo_sha256": {"type": "string"},
            "preview_url": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": NULLABLE_TIME,
            "finished_at": NULLABLE_TIME,
        },
    },  # fmt: skip
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
            "params": _schema("Params"),
        },
    },
    "SavedVersion": {
        "type": "object",
        "required": ["id", "version", "params"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "version": {"type": "integer"},
            "params": _schema("Params"),
        },
    },
    "Version": {
        "type": "object",
        "required": ["version", "author", "created_at", "params"],
        "properties": {
            "version": {"type": "integer"},
            "author": {"enum": ["fit", "player", "client"]},
            "created_at": {"type": "string", "format": "date-time"},
            "params": _schema("Params"),
        },
    },
    "Delivery": {
        "type": "object",
        "required": ["webhook_id", "type", "state", "attempts"],
        "properties": {
            "webhook_id": {"type": "string"},
            "type": {"enum": ["job.succeeded", "job.failed", "job.updated"]},
            "state": {"enum": ["pending", "delivered", "failed"]},
            "url": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "next_attempt_at": NULLABLE_TIME,
            "attempts": {"type": "array", "items": _schema("DeliveryAttempt")},
        },
    },
    "DeliveryAttempt": {
        "type": "object",
        "required": ["attempt", "attempted_at", "http_status", "error", "outcome"],
        "properties": {
            "attempt": {"type": "integer"},
            "attempted_at": {"type": "string", "format": "date-time"},
            "http_status": {"type": ["integer", "null"]},
            "error": {"type": ["string", "null"]},
            "outcome": {"enum": ["delivered", "retrying", "failed"]},
            "next_attempt_at": NULLABLE_TIME,
        },
    },
    "ErrorBody": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": _schema("ErrorBody")},
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"enum": ["ok", "unavailable"]},
            "checks": {
                "type": "object",
                "properties": {
                    "database": {"enum": ["ok", "down"]},
                    "broker": {"enum": ["ok", "down"]},
                },
            },
        },
    },
}


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method, operation in OPERATIONS:
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "facefit game-server API",
            "version": "1.0.0",
            "description": "Submit a player's photo; poll the job until it has the "
            "face-sculpting parameters of the game character. Every error is "
            '`{"error": {"code", "message"}}` with a stable code.',
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `flask --app web token create NAME` (ff_…)",
                }
            },
            "schemas": SCHEMAS,
        },
    }
