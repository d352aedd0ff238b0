"""The one mapping from the project's errors to gRPC status codes."""

from __future__ import annotations

import grpc

from sequencer import errors


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for `exc`."""
    if isinstance(exc, errors.NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, errors.AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS, str(exc)
    if isinstance(exc, errors.TooLarge | errors.Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    if isinstance(exc, errors.BadInput):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, errors.Temporary):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
    return grpc.StatusCode.INTERNAL, "internal error"


def reason_of(exc: BaseException) -> str:
    """A short label for the rejected-by-reason metric."""
    return status_of(exc)[0].name.lower()
