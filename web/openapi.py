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
    "CALLBACK_URL_INVALID",
    "CALLBACK_URL_FORBIDDEN",
    "CALLBACK_URL_UNRESOLVED",
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
                                            "description": "Receives signed callbacks "
                                            '{"type", "job_id", "status"} (docs/webhooks.md); '
                                            "https in production, public addresses only",
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
                        "400": _error(
                            "BAD_REQUEST, or a photo that fails intake, or a callback_url "
                            "refused: CALLBACK_URL_INVALID (malformed, not http(s), https "
                            "required), CALLBACK_URL_FORBIDDEN (resolves to a loopback, "
                            "private or other non-public address), CALLBACK_URL_UNRESOLVED"
                        ),
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
            "/jobs/{id}/deliveries": {
                "get": {
                    "summary": "The job's callbacks and every attempt to deliver them",
                    "parameters": [{"$ref": "#/components/parameters/JobId"}],
                    "responses": {
                        "200": {
                            "description": "Callbacks, oldest first",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["deliveries"],
                                        "properties": {
                                            "deliveries": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Delivery"},
                                            }
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
            "/jobs/{id}/deliveries/{webhook_id}/redeliver": {
                "post": {
                    "summary": "Send a callback again now (same webhook-id, one more attempt)",
                    "parameters": [
                        {"$ref": "#/components/parameters/JobId"},
                        {
                            "name": "webhook_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "202": {
                            "description": "Queued",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Delivery"}
                                }
                            },
                        },
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
                            '"discrete": {group: option}} once succeeded',
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
                "Delivery": {
                    "type": "object",
                    "required": ["webhook_id", "type", "state", "attempts"],
                    "properties": {
                        "webhook_id": {"type": "string"},
                        "type": {"enum": ["job.succeeded", "job.failed", "job.updated"]},
                        "state": {"enum": ["pending", "delivered", "failed"]},
                        "url": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                        "attempts": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/DeliveryAttempt"},
                        },
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
                        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
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
