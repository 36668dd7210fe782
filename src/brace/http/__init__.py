"""brace for httpx: a resilient transport and client.

:class:`ResilientTransport` wraps any httpx async transport with retries
(idempotent requests only, honouring ``Retry-After``), a total deadline and
per-attempt timeouts, and per-host circuit breakers and rate limiters;
:func:`client` builds an ``httpx.AsyncClient`` that uses it. The
classifiers say which requests are safe to send again and which outcomes
call for it.

Needs httpx: ``pip install "brace[httpx]"``.

.. versionadded:: 0.1
"""

try:
    import httpx as _httpx  # noqa: F401
except ImportError as exc:
    msg = 'brace.http needs httpx: pip install "brace[httpx]"'
    raise ImportError(msg, name=exc.name) from exc

from ._classify import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUS,
    is_failure_response,
    is_replayable,
    is_retryable_error,
    is_retryable_response,
    is_unsent_error,
    retry_after,
)
from ._client import client
from ._hosts import default_breaker
from ._transport import RETRY_EXTENSION, ResilientTransport

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_STATUS",
    "RETRY_EXTENSION",
    "ResilientTransport",
    "client",
    "default_breaker",
    "is_failure_response",
    "is_replayable",
    "is_retryable_error",
    "is_retryable_response",
    "is_unsent_error",
    "retry_after",
]
