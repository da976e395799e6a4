"""The OpenAPI 3 description of the worker's HTTP API (served at ``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

MAX_SCENE_LENGTH = 64
"""Longest ``scene`` query parameter accepted (event scenes are labels like ``home``)."""


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_spec(max_k: int, default_k: int, max_id_length: int, token_required: bool) -> dict[str, Any]:
    """The API description; limits are the worker's real ones."""
    user_id = {"name": "user_id", "in": "path", "required": True,
               "schema": {"type": "string", "minLength": 1, "maxLength": max_id_length}}
    unauthorized = _error("Missing or wrong bearer token (only when the worker has an API token)")
    obj: dict[str, Any] = {"type": "object"}
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "streamrec worker", "version": "1",
                 "description": "Real-time recommendations on demand, health, metrics and the "
                                "operator dashboard's data. Bound to 127.0.0.1 unless told otherwise. "
                                + ("This worker requires a bearer token on every path but /health."
                                   if token_required else "This worker has no API token set.")},
        "paths": {
            "/recommendations/{user_id}": {"get": {
                "summary": "The user's current recommendations, from live state",
                "description": "Same JSON as the recommendations topic, plus `known_user` and each "
                               "item's `title`. A user on another worker's partition is proxied "
                               "to that worker.",
                "parameters": [
                    user_id,
                    {"name": "k", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": max_k, "default": default_k}},
                    {"name": "scene", "in": "query", "required": False,
                     "schema": {"type": "string", "maxLength": MAX_SCENE_LENGTH}},
                ],
                "responses": {"200": _json("Recommendations, best first",
                                           {"$ref": "#/components/schemas/Recommendation"}),
                              "400": _error("Bad parameter (k, scene or user_id)"),
                              "401": unauthorized},
            }},
            "/api/users/{user_id}": {"get": {
                "summary": "The events behind a user's recommendations (recent items, purchases, "
                           "last search)",
                "parameters": [user_id],
                "responses": {"200": _json("User summary", obj), "400": _error("Bad user_id"),
                              "401": unauthorized},
            }},
            "/api/stats": {"get": {
                "summary": "Everything the dashboard shows: rates, latency, lag, partitions, "
                           "index, users, memory, errors, feedback, the model in service, trending items",
                "responses": {"200": _json("Worker statistics", obj), "401": unauthorized},
            }},
            "/health": {"get": {
                "summary": "Liveness and readiness (never needs a token)",
                "responses": {"200": _json("Ready", obj),
                              "503": _json("Alive, not ready yet (recovering or loading the index)",
                                           obj)},
                "security": [],
            }},
            "/internal/signals": {"get": {
                "summary": "Internal, for tests and operators (not a stable API): shared-signal "
                           "status and the co-visitation neighbours of ?item= (repeatable) at ?now=",
                "responses": {"200": _json("Neighbours and replica status", obj), "401": unauthorized},
            }},
            "/metrics": {"get": {
                "summary": "Prometheus text format",
                "responses": {"200": {"description": "Metrics",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}},
                              "401": unauthorized},
            }},
            "/dashboard": {"get": {
                "summary": "The operator dashboard (HTML). With a token, open /dashboard?token=...",
                "responses": {"200": {"description": "Page",
                                      "content": {"text/html": {"schema": {"type": "string"}}}},
                              "401": unauthorized},
            }},
            "/openapi.json": {"get": {
                "summary": "This description",
                "responses": {"200": _json("OpenAPI 3 document", obj), "401": unauthorized},
            }},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}}},
                "Recommendation": {
                    "type": "object",
                    "required": ["rec_id", "user_id", "ts", "items"],
                    "properties": {
                        "rec_id": {"type": "string"}, "user_id": {"type": "string"},
                        "ts": {"type": "number"}, "scene": {"type": "string", "nullable": True},
                        "trigger": {"type": "object", "nullable": True},
                        "model_version": {"type": "integer"},
                        "known_user": {"type": "boolean"},
                        "items": {"type": "array", "items": {
                            "type": "object", "required": ["item_id", "score", "reason"],
                            "properties": {"item_id": {"type": "string"}, "score": {"type": "number"},
                                           "reason": {"type": "string"},
                                           "title": {"type": "string", "nullable": True}}}},
                    },
                },
            },
        },
    }
    if token_required:
        spec["security"] = [{"bearer": []}]
    return spec
