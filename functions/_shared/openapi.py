"""The OpenAPI document, completed: every error is an RFC 9457 problem, and every operation
lists the errors it can give (401/403 where a token is required, 413 where there is a body, 422
where there is input, 503 everywhere: the database may be down)."""

from typing import Any

from fastapi import FastAPI

from functions._shared.errors import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details with a stable `code`.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
    },
    "additionalProperties": True,
}
_PROBLEM_CONTENT = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_DEFAULT_DESCRIPTIONS = {
    "401": "Missing or invalid token.",
    "403": "Wrong role.",
    "413": "The request body is too large.",
    "422": "Invalid input.",
    "503": "A dependency (the database) is unavailable.",
}
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def install_problem_documentation(app: FastAPI) -> None:
    generate = app.openapi
    done: list[int] = []

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI's own, cached by FastAPI until the routes change
        if id(document) not in done:
            completed(document)
            done.append(id(document))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def completed(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _HTTP_METHODS:
                _complete_operation(operation)
    # FastAPI's own validation-error models are never sent: our 422 is a problem.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def _complete_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    expected = {"503"}
    if operation.get("security"):
        expected |= {"401", "403"}
    if operation.get("requestBody"):
        expected |= {"413", "422"}
    if operation.get("parameters"):
        expected.add("422")
    for status in expected:
        responses.setdefault(status, {"description": _DEFAULT_DESCRIPTIONS[status]})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            response["content"] = _PROBLEM_CONTENT
