"""The OpenAPI 3.0 document of ``/api/v1`` (served at ``/api/v1/openapi.json``).

Kept beside the views and checked by ``tests/web/test_api.py``: the document validates, and
every response the tests receive matches the schema declared for its path and status.
"""

from __future__ import annotations

from ..services.dossier_tokens import TEXT_LIMITS


def _error_response(description: str) -> dict:
    """A response whose body is an :ref:`Error`."""
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _image(mimetype: str, description: str) -> dict:
    """The GET of a QR image."""
    return {
        "summary": description,
        "operationId": f"getTokenQr{mimetype.split('/')[1].split('+')[0].title()}",
        "parameters": [{"$ref": "#/components/parameters/code"}],
        "responses": {
            "200": {"description": description,
                    "content": {mimetype: {"schema": {"type": "string", "format": "binary"}}}},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": {"$ref": "#/components/responses/NotFound"},
            "429": {"$ref": "#/components/responses/RateLimited"},
        },
    }


def _token_request_schema() -> dict:
    """The body of POST /tokens."""
    texts = {name: {"type": "string", "minLength": 1, "maxLength": limit}
             for name, limit in TEXT_LIMITS.items()}
    texts["dossier_code"]["description"] = (
        "The dossier (hồ sơ) number in the one-stop software. Never stored: only a keyed hash "
        "(HMAC-SHA256) is kept, so the same dossier gets the same code back.")
    texts["procedure_code"]["description"] = (
        "National procedure code; sets the procedure field when one is known for it, else ignored.")
    texts["field"]["description"] = "Procedure field code (lĩnh vực), e.g. `ho-tich`. Unknown → 400."
    texts["counter"]["description"] = "Counter code within the key's unit. Unknown → 400."
    return {"type": "object", "required": ["dossier_code"], "additionalProperties": False,
            "properties": texts}


def openapi_document() -> dict:
    """The whole document as a dict (JSON-serialisable)."""
    token_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "SIPAS counter survey API",
            "version": "1.0.0",
            "description": (
                "Single-use QR codes for dossiers (hồ sơ), for one-stop software. Each key "
                "belongs to one unit; codes are issued for that unit's current campaign. "
                "Errors are JSON objects `{error, message, fields?}`."),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"apiKeyHeader": []}],
        "paths": {
            "/tokens": {"post": {
                "summary": "Issue the single-use QR code of a dossier (idempotent per dossier)",
                "operationId": "createToken",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/TokenRequest"}}}},
                "responses": {
                    "201": {"description": "A new code was issued.", "content": token_body},
                    "200": {"description": "The dossier already had this code.", "content": token_body},
                    "400": _error_response("Malformed body; `fields` names each wrong field."),
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "409": _error_response("The unit has no open campaign (`no_open_campaign`)."),
                    "413": _error_response("Body larger than the server accepts (`too_large`)."),
                    "429": {"$ref": "#/components/responses/RateLimited"},
                },
            }},
            "/tokens/{code}": {"get": {
                "summary": "State of one of the key's codes",
                "operationId": "getToken",
                "parameters": [{"$ref": "#/components/parameters/code"}],
                "responses": {
                    "200": {"description": "The code.", "content": token_body},
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "404": {"$ref": "#/components/responses/NotFound"},
                    "429": {"$ref": "#/components/responses/RateLimited"},
                },
            }},
            "/tokens/{code}.png": {"get": _image("image/png", "QR code as PNG")},
            "/tokens/{code}.svg": {"get": _image("image/svg+xml", "QR code as SVG")},
            "/openapi.json": {"get": {
                "summary": "This document", "operationId": "getOpenApi", "security": [],
                "responses": {"200": {"description": "OpenAPI 3 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "`Authorization: Bearer sipas_xxxxxxxx_…`"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "parameters": {"code": {"name": "code", "in": "path", "required": True,
                                    "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{4,16}$"}}},
            "responses": {
                "Unauthorized": _error_response("Missing, unknown or revoked API key."),
                "NotFound": _error_response("No such code in the key's unit."),
                "RateLimited": _error_response("Too many requests for this key; retry later."),
            },
            "schemas": {
                "TokenRequest": _token_request_schema(),
                "Token": {
                    "type": "object", "required": ["code", "url", "expires_at", "state"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {"type": "string", "pattern": "^[0-9A-Z]{8}$",
                                 "description": "Print it under the QR; it can be typed at /c."},
                        "url": {"type": "string", "format": "uri",
                                "description": "The URL to encode in the QR: https://host/s/CODE"},
                        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
                        "state": {"type": "string", "enum": ["open", "used", "revoked", "expired"]},
                    },
                },
                "Error": {
                    "type": "object", "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string", "description": "Machine-readable code."},
                        "message": {"type": "string", "description": "Human-readable (Vietnamese)."},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                                   "description": "Per-field problems of a 400."},
                    },
                },
            },
        },
    }
