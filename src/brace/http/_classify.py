"""Which HTTP requests may be sent again, and which outcomes call for it."""

from __future__ import annotations

import builtins

import httpx

from brace._errors import _TRANSIENT_HTTP_STATUS, is_transient
from brace._retry_after import parse_retry_after

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_STATUS",
    "is_failure_response",
    "is_replayable",
    "is_retryable_error",
    "is_retryable_response",
    "is_unsent_error",
    "retry_after",
]

# Both documented in docs/reference/http.md. The statuses are those that
# brace.is_transient applies to httpx.HTTPStatusError: one set for both.
RETRYABLE_STATUS: frozenset[int] = _TRANSIENT_HTTP_STATUS
IDEMPOTENT_METHODS: frozenset[str] = frozenset(
    {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}
)

# Sent or not, the server never acted on these: the connection was never
# made, or no connection was free.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def is_retryable_response(response: httpx.Response) -> bool:
    """Whether *response*'s status is in :data:`RETRYABLE_STATUS`.

    .. versionadded:: 0.1
    """
    return response.status_code in RETRYABLE_STATUS


def is_failure_response(response: httpx.Response) -> bool:
    """Whether *response* tells of a failing server: 5xx, or 408 or 429.

    What the per-host circuit breakers of :class:`ResilientTransport` count
    as failed calls (their ``failure_on_result``): a server that keeps
    answering 503 or 429 is as unhealthy as one that does not answer.

    .. versionadded:: 0.1
    """
    status = response.status_code
    return status >= 500 or status in RETRYABLE_STATUS


def is_retryable_error(exc: BaseException) -> bool:
    """Whether an exception from sending a request is worth retrying.

    True for httpx's transport errors (timeouts, network errors, a server
    that hung up) except those that the same request meets again (an
    unsupported URL scheme, a request httpx cannot encode), and for
    timeouts (:class:`brace.TimeoutError` among them). The same verdict as
    :func:`brace.is_transient` for these errors. Safe to retry only for
    idempotent requests: the server may have acted on the request already.

    .. versionadded:: 0.1
    """
    return isinstance(exc, httpx.TransportError | builtins.TimeoutError) and (
        is_transient(exc)
    )


def is_unsent_error(exc: BaseException) -> bool:
    """Whether the request surely never reached the server.

    True for ``httpx.ConnectError``, ``httpx.ConnectTimeout`` and
    ``httpx.PoolTimeout``: the connection was never made (or no pooled one
    was free), so even a non-idempotent request is safe to send again.

    .. versionadded:: 0.1
    """
    return isinstance(exc, _UNSENT)


def retry_after(outcome: object) -> float | None:
    """Seconds that a response's ``Retry-After`` header asks to wait.

    Takes an ``httpx.Response`` or an ``httpx.HTTPStatusError`` (anything
    else gives ``None``), reads ``Retry-After`` in seconds or as an
    HTTP-date (see :func:`brace.parse_retry_after`). Suits
    ``brace.Retry(retry_after=...)``.

    .. versionadded:: 0.1
    """
    if isinstance(outcome, httpx.HTTPStatusError):
        outcome = outcome.response
    if not isinstance(outcome, httpx.Response):
        return None
    return parse_retry_after(outcome.headers.get("retry-after"))


def is_replayable(request: httpx.Request) -> bool:
    """Whether *request*'s body can be sent again, identical.

    Bodies given as bytes, str, JSON or form data are; so are multipart
    uploads whose files are bytes or seekable files (httpx rewinds them).
    Bodies streamed from an (async) iterator or file are not: they can be
    read only once.

    .. versionadded:: 0.1
    """
    stream = request.stream
    if isinstance(stream, httpx.ByteStream):
        return True
    fields = getattr(stream, "fields", None)
    if fields is None or not isinstance(stream, httpx.AsyncByteStream):
        return False
    # A multipart body (httpx's MultipartStream): rendered afresh from its
    # fields each time it is sent, and FileField rewinds seekable files.
    for field in fields:
        file = getattr(field, "file", b"")
        if isinstance(file, str | bytes):
            continue
        seekable = getattr(file, "seekable", None)
        if seekable is None or not seekable():
            return False
    return True
