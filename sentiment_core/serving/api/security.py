"""The API key (SENTIMENT_API_KEY) and the body guard (size limit, UTF-8).

The key is declared with FastAPI's security classes, as a dependency the routers carry, so OpenAPI and /docs
show it. It is also enforced by `RequestGuard`, a pure ASGI middleware, because FastAPI reads and parses a body
before it resolves any dependency: a request without the key gets 401 whatever its body. Both read the key
with `presented_key` and judge it with `key_problem`, so they cannot disagree.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from sentiment_core.core.settings import Settings
from sentiment_core.serving.api.errors import ApiError
from sentiment_core.serving.api.service import get_app_settings

# Never behind the key: health checks and the API's own documentation.
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
OPEN_PREFIXES = ("/docs-assets/",)  # the docs' JavaScript and CSS (routers.docs)
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="the key set in SENTIMENT_API_KEY")
BEARER = HTTPBearer(auto_error=False, description="the key set in SENTIMENT_API_KEY, as `Authorization: Bearer <key>`")
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "ApiKey"}


def presented_key(x_api_key: bytes | None, authorization: bytes | None) -> bytes | None:
    """The key a request sends: its X-API-Key header, else the token of `Authorization: Bearer <key>`."""
    if x_api_key is not None:
        return x_api_key
    if authorization is not None and authorization[:7].lower() == b"bearer ":
        return authorization[7:].strip()
    return None


def key_problem(given: bytes | None, expected: bytes) -> str | None:
    """None when `given` is the key, else the 401 message (compared in constant time)."""
    if given is not None and secrets.compare_digest(given, expected):
        return None
    problem = "no API key was sent" if given is None else "the API key is wrong"
    return (f"This API needs a key and {problem}: send it in the X-API-Key header "
            "(or as Authorization: Bearer <key>).")


def _expected_key(settings: Settings) -> bytes | None:
    return settings.api_key.get_secret_value().encode() if settings.api_key is not None else None


async def require_api_key(request: Request, settings: Annotated[Settings, Depends(get_app_settings)],
                          _header: Annotated[str | None, Security(API_KEY_HEADER)],
                          _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> None:
    """The routers' key check. The two security parameters declare the schemes for OpenAPI; the key is read
    from the raw headers as the guard reads it (APIKeyHeader takes an empty header for none)."""
    expected = _expected_key(settings)
    if expected is None:
        return
    raw = dict(request.headers.raw)  # Starlette stores header names lower-cased
    problem = key_problem(presented_key(raw.get(b"x-api-key"), raw.get(b"authorization")), expected)
    if problem is not None:
        raise ApiError(401, problem, headers=UNAUTHORIZED_HEADERS)


class RequestGuard:
    """Pure ASGI middleware, before any parsing: API key, body size limit, UTF-8 JSON bodies.

    The body is read here (at most `max_body_bytes`) and replayed to the app, so an oversized
    body is refused with 413 before the app sees it, whatever its Content-Length says.
    """

    def __init__(self, app, api_key: str | None, max_body_bytes: int):
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = int(max_body_bytes)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {}
        for name, value in scope.get("headers", ()):
            headers[name.lower()] = value
        if (self.api_key is not None and scope["path"] not in OPEN_PATHS and not scope["path"].startswith(OPEN_PREFIXES)
                and scope["method"] != "OPTIONS"):
            problem = key_problem(presented_key(headers.get(b"x-api-key"), headers.get(b"authorization")),
                                  self.api_key)
            if problem is not None:
                await _send_json(send, 401, {"detail": problem}, extra_headers=[(b"www-authenticate", b"ApiKey")])
                return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        body = await self._read_body(headers, receive, send)
        if body is None:
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, headers: dict[bytes, bytes], receive, send) -> bytes | None:
        """The whole body, or None once a refusal is sent (or the client went away)."""
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_json(send, 400, {"detail": "The Content-Length header is not a number."})
                return None
            if declared > self.max_body_bytes:
                await self._too_large(send, f"{declared} bytes")
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send, f"more than {self.max_body_bytes} bytes")
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and (content_type in (b"", b"application/json") or content_type.endswith(b"+json")):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as error:
                await _send_json(send, 400, {"detail": (
                    f"The request body is not valid UTF-8 (byte 0x{body[error.start]:02x} at position {error.start}): "
                    "send JSON encoded as UTF-8.")})
                return None
        return body

    async def _too_large(self, send, size: str) -> None:
        await _send_json(send, 413, {"detail": (
            f"The request body is {size}; the limit is {self.max_body_bytes} bytes (SENTIMENT_MAX_BODY_BYTES): "
            "send fewer or shorter texts per request.")})


async def _send_json(send, status: int, payload: dict, extra_headers=()) -> None:
    body = JSONResponse(payload).body
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]})
    await send({"type": "http.response.body", "body": body})
