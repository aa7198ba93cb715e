"""The errors the routes raise: answered as OpenAI's error body, or (a client that left) not at all."""

from __future__ import annotations

from starlette.responses import JSONResponse

__all__ = ["ClientGone", "HTTPError"]


class HTTPError(Exception):
    """An error answered as OpenAI's ``{"error": {"message", "type", "code"}}`` body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind

    def response(self) -> JSONResponse:
        headers = {"Retry-After": "1"} if self.status == 503 else None
        body = {"error": {"message": self.message, "type": self.kind, "code": self.status}}
        return JSONResponse(body, status_code=self.status, headers=headers)


class ClientGone(Exception):
    """The client closed its connection before its reply was ready."""
