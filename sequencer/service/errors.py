"""The one mapping from the project's errors to gRPC status codes, and `Refusal`, the small value a
refused request or list item is kept as until it is answered."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from sequencer import errors
from sharedseq.v1 import sequencer_pb2 as pb

MAX_ERROR_MESSAGE_BYTES = 256
"""Longest error message sent (UTF-8 bytes): bounds each refused item's share of an answer, so an
answer's size follows from its item count (see `limits.answer_bound`)."""


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for `exc`."""
    if isinstance(exc, errors.NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, errors.AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS, str(exc)
    if isinstance(exc, errors.FailedPrecondition):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
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


def _clip(message: str) -> str:
    raw = message.encode()
    if len(raw) <= MAX_ERROR_MESSAGE_BYTES:
        return message
    return raw[:MAX_ERROR_MESSAGE_BYTES - 3].decode(errors="ignore") + "..."


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a client is told about a refused request or item: a status code and a clipped message.

    Refused items are kept as these, not as exceptions: an exception holds its traceback, and the
    traceback every frame's locals (the request among them), which made a list of garbage items
    cost kilobytes per item (issue 9, finding 2)."""

    code: grpc.StatusCode
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> Refusal:
        code, message = status_of(exc)
        return cls(code, _clip(message))

    @property
    def reason(self) -> str:
        """The rejected-by-reason metric label (as `reason_of`)."""
        return str(self.code.name).lower()

    def to_proto(self) -> pb.Error:
        return pb.Error(code=self.code.value[0], message=self.message)
