"""One error shape for every answer that is not a success, and the OpenAPI entries for it.

Every error is `ErrorBody`: `detail` says what is wrong in one sentence; `errors` lists each
invalid field for a 422. Validation errors never echo the input back: it may be what could
not be handled in the first place (a NaN, a lone surrogate, a huge nesting).
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from contract.wire import ErrorBody, FieldError

log = logging.getLogger(__name__)

_MEANING = {
    400: "a query parameter is not one this API handed out (e.g. a cursor)",
    401: "no key, or an unknown or revoked one",
    403: "the key lacks the role this route needs",
    404: "no such resource (or not the caller's)",
    409: "the resource's state does not allow this (e.g. a stale lease)",
    413: "the request body is larger than HYPERCODE_MAX_REQUEST_BYTES",
    422: "the request is not valid: not JSON, non-finite numbers, invalid Unicode, nested "
    "too deep, or fields out of bounds",
    429: "backpressure: the queue holds as many waiting tasks as HYPERCODE_MAX_QUEUED_TASKS "
    "(or, for this key, HYPERCODE_MAX_QUEUED_TASKS_PER_CLIENT) allows; retry after Retry-After",
    503: "the database does not answer",
}
_HEADERS: dict[int, dict[str, Any]] = {
    429: {
        "Retry-After": {
            "description": "seconds to wait before submitting again",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
# What any /api/v1 route may answer besides its own statuses.
API_ERRORS = (401, 403, 413, 422)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries: each status with the ErrorBody schema (and its headers)."""
    return {
        s: {"model": ErrorBody, "description": _MEANING[s]}
        | ({"headers": _HEADERS[s]} if s in _HEADERS else {})
        for s in statuses
    }


def _field_error(error: Any) -> FieldError:
    loc = [str(part) if not isinstance(part, int) else part for part in error.get("loc", ())]
    return FieldError(loc=loc, msg=str(error.get("msg", "")), type=str(error.get("type", "")))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    body = ErrorBody(detail=str(exc.detail))
    return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(error) for error in exc.errors()]
    summary = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors[:5])
    body = ErrorBody(detail=f"invalid request: {summary}", errors=errors)
    return JSONResponse(body.model_dump(), status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
