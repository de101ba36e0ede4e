"""Errors as answers: `ApiError`, the exception handlers, and the helpers that write 422 messages.

Every error is a 4xx whose message says what to fix; anything else is a bug, logged and answered 500
with a request id.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sentiment_core.core.errors import BusyError, InputError, SentimentError

logger = logging.getLogger("sentiment_core.serving.api")


class ApiError(Exception):
    """An error answered with `status` and `detail` (a message saying what to fix).

    A 422 takes FastAPI's validation-error shape (`detail` a list, with `loc`) plus `message`.
    """

    def __init__(self, status: int, detail: str, loc: Sequence[str | int] = ("body",),
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.loc, self.headers = status, detail, list(loc), headers

    @classmethod
    def from_error(cls, error: SentimentError, loc: Sequence[str | int] = ("body",), prefix: str = "") -> ApiError:
        """The answer to a SentimentError: its own status (4xx; 503 with Retry-After)."""
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))} if isinstance(error, BusyError) else None
        return cls(error.http_status, f"{prefix}{error}", loc, headers)

    def response(self) -> JSONResponse:
        if self.status == 422:
            return JSONResponse(status_code=422, content={
                "detail": [{"type": "value_error", "loc": self.loc, "msg": self.detail}], "message": self.detail})
        return JSONResponse(status_code=self.status, content={"detail": self.detail}, headers=self.headers)


def location(loc: Sequence[str | int]) -> str:
    """["body", "texts", 3] -> "texts[3]"."""
    text = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _error_message(errors: Sequence[dict]) -> str:
    """One line naming each bad field and what is wrong with it."""
    parts = []
    for error in errors[:3]:
        loc = [str(part) for part in error.get("loc", ())]
        where = ".".join(loc[1:] if loc and loc[0] == "body" else loc) or "body"
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            where = f"body (character {loc[1]})" if len(loc) > 1 else "body"
            message = f"not valid JSON ({(error.get('ctx') or {}).get('error', 'decode error')})"
        elif where == "body" and error.get("type") in ("model_attributes_type", "dict_type", "missing"):
            message += ': send a JSON object such as {"texts": ["..."]} with Content-Type: application/json'
        parts.append(f"{where}: {message}")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = []
    for item in error.errors():  # keep it JSON-safe: inputs can be bytes, ctx can hold exceptions
        item = {key: value for key, value in item.items() if key in ("type", "loc", "msg", "ctx")}
        if "ctx" in item:
            item["ctx"] = {key: str(value) for key, value in item["ctx"].items()}
        item["loc"] = [part if isinstance(part, (str, int)) else str(part) for part in item.get("loc", ())]
        errors.append(item)
    return JSONResponse(status_code=422, content={"detail": errors, "message": _error_message(errors)})


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own HTTP errors; its vague "error parsing the body" gets the cause and the fix."""
    detail = error.detail
    if error.status_code == 400 and detail == "There was an error parsing the body":
        cause = error.__cause__
        if isinstance(cause, RecursionError):
            detail = 'The JSON body is nested too deeply: send a flat object such as {"texts": ["..."]}.'
        elif isinstance(cause, UnicodeDecodeError):
            detail = "The request body is not valid UTF-8: send JSON encoded as UTF-8."
        else:
            detail = (f"The request body could not be parsed ({type(cause).__name__ if cause else 'unknown error'}): "
                      'send JSON such as {"texts": ["..."]} with Content-Type: application/json.')
    return JSONResponse(status_code=error.status_code, content={"detail": detail}, headers=error.headers)


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return error.response()


async def _sentiment_error(request: Request, error: SentimentError) -> JSONResponse:
    """A SentimentError no endpoint caught: the library named the bad value and the fix."""
    return ApiError.from_error(error).response()


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """Anything else is a bug: 500 with a request id, logged with its traceback under that id."""
    request_id = uuid.uuid4().hex[:16]
    logger.error("request %s: unexpected error on %s %s", request_id, request.method, request.url.path,
                 exc_info=error)
    return JSONResponse(status_code=500, headers={"X-Request-ID": request_id}, content={
        "detail": f"Internal error ({type(error).__name__}); it was logged on the server with request id "
                  f"{request_id}: quote it when you report the problem.", "request_id": request_id})


def install_handlers(app: FastAPI) -> None:
    """Answer every exception as above: 4xx for what the caller can fix, 500 with a request id otherwise."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SentimentError, _sentiment_error)
    app.add_exception_handler(Exception, _unexpected_error)


def unreadable(predictor, texts: list[str], error: InputError) -> ApiError:
    """The 422 for a request whose prediction failed on bad input: name the first text the model cannot read."""
    for index, text in enumerate(texts):
        try:
            predictor.encode(text)
        except InputError as text_error:
            return ApiError.from_error(text_error, ["body", "texts", index], prefix=f"texts[{index}]: ")
    return ApiError.from_error(error, ["body", "texts"])
