"""Serving failures and their codes: one place maps each kind to TF Serving's HTTP status and
gRPC code, so REST and gRPC answer the same failure the same way."""

from __future__ import annotations


class ServingError(Exception):
    """A request failed; `http_status` and `grpc_code` say how to report it."""

    http_status = 500
    grpc_code = "INTERNAL"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ServingError):
    """Malformed request: bad JSON, unknown input or signature, wrong shape or dtype."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class NotFound(ServingError):
    """Unknown model, version or label."""

    http_status = 404
    grpc_code = "NOT_FOUND"


class TooLarge(InvalidArgument):
    """A request body over the server's limit."""

    http_status = 413


class ResourceExhausted(ServingError):
    """The server is overloaded (too many requests or request bytes in flight, a full batching
    queue); retry later."""

    http_status = 429
    grpc_code = "RESOURCE_EXHAUSTED"


class Unavailable(ServingError):
    """The server is shutting down or the model is not ready."""

    http_status = 503
    grpc_code = "UNAVAILABLE"


class DeadlineExceeded(ServingError):
    """The request took longer than the server's per-request timeout."""

    http_status = 504
    grpc_code = "DEADLINE_EXCEEDED"
