"""Errors that carry their RFC 9457 problem type, so every layer can raise them without knowing HTTP."""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "/problems/"


class ProblemError(Exception):
    """Base of every error a user can see: a stable `type`, an HTTP status, a title and a detail."""

    slug: ClassVar[str] = "internal-error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class BadRequest(ProblemError):
    slug, status, title = "bad-request", 400, "Bad request"


class ValidationFailed(ProblemError):
    slug, status, title = "validation-failed", 422, "The request is not valid"


class Unauthorized(ProblemError):
    slug, status, title = "unauthorized", 401, "Authentication required"


class Forbidden(ProblemError):
    slug, status, title = "forbidden", 403, "Not allowed"


class NotFound(ProblemError):
    slug, status, title = "not-found", 404, "Not found"


class Conflict(ProblemError):
    slug, status, title = "conflict", 409, "Conflict with the current state"


class PayloadTooLarge(ProblemError):
    slug, status, title = "payload-too-large", 413, "Request body too large"


class UnsupportedMediaType(ProblemError):
    slug, status, title = "unsupported-media-type", 415, "Unsupported media type"


class TooManyRequests(ProblemError):
    slug, status, title = "too-many-requests", 429, "Too many requests"


class ServiceUnavailable(ProblemError):
    slug, status, title = "service-unavailable", 503, "Service unavailable"


def all_problem_types() -> dict[str, type[ProblemError]]:
    """Every problem type defined anywhere (subclasses register by being imported)."""
    seen: dict[str, type[ProblemError]] = {}
    stack: list[type[ProblemError]] = [ProblemError]
    while stack:
        cls = stack.pop()
        seen.setdefault(cls.slug, cls)
        stack.extend(cls.__subclasses__())
    return seen
