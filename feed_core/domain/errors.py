"""Failures the service reports to callers, independent of any wire format.

Each protocol adapter turns these into its own status codes and error bodies.
"""

from __future__ import annotations


class FeedError(Exception):
    """Base class; ``status`` is the HTTP status most protocols use for it."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(FeedError):
    status = 400


class UnauthorizedError(FeedError):
    """No credentials, or credentials that match no valid token."""

    status = 401


class ForbiddenError(FeedError):
    status = 403


class NotFoundError(FeedError):
    status = 404


class FileNotInUpstream(NotFoundError):
    """An upstream answered that it does not have a file the feed asked it for (not a failure of the upstream)."""


class MethodNotAllowedError(FeedError):
    status = 405


class ConflictError(FeedError):
    status = 409


class PreconditionFailedError(FeedError):
    status = 412


class RequestTimeoutError(FeedError):
    """The request body did not arrive in time."""

    status = 408


class PayloadTooLargeError(FeedError):
    status = 413


class UpstreamError(FeedError):
    status = 502


class UpstreamUnusableError(UpstreamError):
    """Every upstream failed in a way asking again soon cannot fix (TLS, DNS, credentials, the outbound
    guard). A status clients do not retry: npm shows the reason at once instead of backing off for a minute."""

    status = 424
