"""ResilientTransport: retries, timeouts, breakers and rate limits for httpx.

One request runs, outermost first: the total deadline, the retry policy, and
for each attempt the host's rate limiter, the host's circuit breaker, the
attempt timeout and the inner transport. The breaker sees every attempt and
the limiter counts every attempt (each one reaches the host); neither holds
anything during the waits between attempts.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from brace import _events
from brace._errors import TimeoutError
from brace._retry import Retry
from brace._scope import open_scope
from brace._time import Duration, seconds

from . import _hosts
from ._classify import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUS,
    is_replayable,
    is_retryable_error,
    is_unsent_error,
    retry_after,
)

if TYPE_CHECKING:
    # For annotations only: the docs then name the public classes
    # (brace.CircuitBreaker), not the private modules they live in.
    from brace._backoff import Backoff
    from brace._breaker import CircuitBreaker
    from brace._budget import SupportsRetryBudget
    from brace._events import Listener
    from brace._ratelimit import RateLimiter
    from brace._registry import Registry

__all__ = ["RETRY_EXTENSION", "ResilientTransport"]

# The request extension that overrides the retry decision for one request
# (documented in docs/reference/http.md).
RETRY_EXTENSION = "brace.retry"

_STREAM_NOTE = (
    "brace: not retried: the request body is a stream, which cannot be sent "
    "twice; pass the body as bytes (content=...) to make the request retryable"
)


def _status_set(value: Iterable[int]) -> frozenset[int]:
    given: object = value
    if not isinstance(given, Iterable):
        msg = f"retry_status must be a collection of status codes, not {value!r}"
        raise TypeError(msg)
    codes: frozenset[object] = frozenset(value)
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code < 600:
            msg = f"retry_status must hold HTTP status codes (100-599), not {code!r}"
            raise ValueError(msg)
    return frozenset(value)


def _method_set(value: Iterable[str]) -> frozenset[str]:
    given: object = value
    if isinstance(given, str) or not isinstance(given, Iterable):
        msg = f"retry_methods must be a collection of methods, not {value!r}"
        raise TypeError(msg)
    methods: frozenset[object] = frozenset(value)
    for method in methods:
        if not isinstance(method, str) or not method.isalpha():
            msg = f"retry_methods must hold HTTP method names, not {method!r}"
            raise ValueError(msg)
    return frozenset(method.upper() for method in value)


class ResilientTransport(httpx.AsyncBaseTransport):
    """An httpx transport that retries, times out and fails fast per host.

    Wrap any async transport (by default ``httpx.AsyncHTTPTransport()``) and
    give it to ``httpx.AsyncClient(transport=...)``, or let :func:`client`
    do both. For each request:

    - **Retries** only what is safe to send twice: idempotent methods
      (:data:`IDEMPOTENT_METHODS`, or *retry_methods*), and any method with
      an *idempotency_header* such as ``Idempotency-Key``. They are retried
      on transport errors and timeouts (:func:`is_retryable_error`) and on
      the statuses in *retry_status* (default :data:`RETRYABLE_STATUS`:
      408, 429, 502, 503, 504), honouring ``Retry-After`` (seconds or an
      HTTP-date, capped at *max_server_delay*). Other requests are retried
      only when the connection failed before anything was sent
      (:func:`is_unsent_error`). The request extension ``"brace.retry"``
      (``True`` or ``False``) overrides the decision for one request.
    - **Replays the body** only when it can be sent again identically
      (:func:`is_replayable`). A request whose body is a stream is sent
      once; when it fails in a way that would have been retried, the error
      carries a note that says why it was not.
    - **Gives up like httpx**: when retries give up on a status, the last
      response is returned (a 503 stays a 503 response, as with a plain
      client: call ``raise_for_status()`` as usual); when they give up on
      an error, the last httpx exception propagates unchanged, with a note.
      A response that may be retried has its body read before the
      decision, so that its connection returns to the pool while waiting.
    - **Fails fast** per host (``host:port``): a circuit breaker from
      *breakers* sees every attempt; while it is open, requests raise
      :class:`brace.CircuitOpen` at once, without reaching the host, and
      are not retried (failing fast is the point). An optional rate limiter
      from *rate_limiters* paces the attempts sent to each host.
    - **Bounds time**: *deadline* bounds the whole request (attempts, waits
      between them, rate limiter waits), raising :class:`brace.TimeoutError`
      when it interrupts an attempt; retries never wait past it.
      *attempt_timeout* bounds each attempt until the response headers
      arrive (and the body of a response that may be retried); a timed out
      attempt is retried like a transport error, and the last one raises
      :class:`brace.TimeoutError`. httpx's own timeouts still apply inside.

    Retries emit brace's :class:`~brace.RetryScheduled` and
    :class:`~brace.RetryGaveUp` events named ``"http GET host:port"``; the
    default breakers are named ``"http host:port"``. Errors while reading
    the body of a response after it was returned are not retried: the
    response belongs to the caller by then.

    Args:
        inner: The transport that sends the requests.
        attempts: Most attempts per request, >= 1 (or ``None`` for no
            limit but *deadline*).
        backoff: Delays between attempts when the server sends no
            ``Retry-After``; by default ``Backoff.exponential()``.
        deadline: Total time for one request, in seconds or a timedelta.
        attempt_timeout: Time for each attempt, in seconds or a timedelta.
        retry_methods: The methods to retry.
        retry_status: The statuses to retry.
        idempotency_header: A request header that makes any method
            retryable (``None``: no such header).
        max_server_delay: Cap on a server's ``Retry-After``, in seconds.
        budget: A retry budget shared with other clients or policies
            (see :class:`brace.RetryBudget`).
        breakers: Per-host circuit breakers: ``True`` for
            :func:`default_breaker`, a callable ``host -> CircuitBreaker``,
            a :class:`brace.Registry` of breakers (share one between clients
            to share their breakers), or ``None`` for no breaker. Give your
            breakers ``failure_on_result=is_failure_response`` to count
            failure statuses, not only errors.
        rate_limiters: Per-host rate limiters: a callable
            ``host -> RateLimiter``, a :class:`brace.Registry` of them, or
            ``None`` (the default) for no rate limit.
        max_hosts: The bound on the hosts whose breakers and rate limiters
            are kept, when they are not given as a Registry.
        rng: Random source of the backoff and ``Retry-After`` jitter.
        listeners: Callbacks for the events of the retries and of the
            default breakers.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        attempts: int | None = 3,
        backoff: Backoff | None = None,
        deadline: Duration | None = None,
        attempt_timeout: Duration | None = None,
        retry_methods: Iterable[str] = IDEMPOTENT_METHODS,
        retry_status: Iterable[int] = RETRYABLE_STATUS,
        idempotency_header: str | None = "Idempotency-Key",
        max_server_delay: Duration = 60.0,
        budget: SupportsRetryBudget | None = None,
        breakers: bool
        | Registry[str, CircuitBreaker]
        | Callable[[str], CircuitBreaker]
        | None = True,
        rate_limiters: Registry[str, RateLimiter]
        | Callable[[str], RateLimiter]
        | None = None,
        max_hosts: int = 1000,
        rng: random.Random | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        given: object = inner
        if inner is not None and not isinstance(given, httpx.AsyncBaseTransport):
            msg = (
                "inner must be an async httpx transport, such as "
                f"httpx.AsyncHTTPTransport(), not {inner!r}"
            )
            raise TypeError(msg)
        header: object = idempotency_header
        if header is not None and not isinstance(header, str):
            msg = f"idempotency_header must be a header name or None, not {header!r}"
            raise TypeError(msg)
        self.retry_methods = _method_set(retry_methods)
        self.retry_status = _status_set(retry_status)
        self.idempotency_header = idempotency_header
        self.deadline = (
            None
            if deadline is None
            else seconds(deadline, "deadline", allow_zero=False)
        )
        self.attempt_timeout = (
            None
            if attempt_timeout is None
            else seconds(attempt_timeout, "attempt_timeout", allow_zero=False)
        )
        self.listeners = _events.listeners(listeners)
        self.breakers = _hosts.breakers(breakers, max_hosts, self.listeners)
        self.rate_limiters = _hosts.rate_limiters(rate_limiters, max_hosts)
        options: dict[str, Any] = {
            "attempts": attempts,
            "deadline": self.deadline,
            "retry_after": retry_after,
            "max_server_delay": max_server_delay,
            "budget": budget,
            "rng": rng,
            "listeners": self.listeners,
        }
        if backoff is not None:
            options["backoff"] = backoff
        statuses = self.retry_status
        self._retry = Retry(
            on=is_retryable_error,
            retry_on_result=lambda response: response.status_code in statuses,
            **options,
        )
        self._retry_unsent = Retry(on=is_unsent_error, **options)
        # The policies named per (method, host), made on first use.
        self._named: dict[tuple[bool, str, str], Retry] = {}
        self._max_named = 4 * max_hosts
        # Last: the default transport loads the CA certificates, which is
        # wasted work if an option above is wrong.
        self.inner = httpx.AsyncHTTPTransport() if inner is None else inner

    def __repr__(self) -> str:
        return f"<ResilientTransport inner={self.inner!r}>"

    # -- one request ------------------------------------------------------

    def _policy(self, request: httpx.Request) -> Retry | str | None:
        """The request's retry policy, or why it has none (None: asked so)."""
        override = request.extensions.get(RETRY_EXTENSION)
        if override is False:
            return None
        if not is_replayable(request):
            return _STREAM_NOTE
        header = self.idempotency_header
        if (
            override is True
            or request.method in self.retry_methods
            or (header is not None and header in request.headers)
        ):
            return self._retry
        return self._retry_unsent

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send *request* under the transport's policies (see the class)."""
        deadline = self.deadline
        if deadline is None:
            return await self._request(request)
        scope = open_scope(deadline)
        try:
            response = await self._request(request)
        except BaseException as exc:
            if scope.exit(type(exc), exc, exc.__traceback__):
                raise TimeoutError(timeout=deadline, name=_name(request)) from exc
            raise
        scope.exit(None)
        return response

    async def _request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.netloc.decode("ascii")
        policy = self._policy(request)
        if not isinstance(policy, Retry):
            return await self._once(request, host, policy)
        buffer = policy is self._retry
        # Retry names its events after the request: one named copy of the
        # policy per method and host, rather than a named closure per request.
        key = (buffer, request.method, host)
        named = self._named.get(key)
        if named is None:
            if len(self._named) >= self._max_named:
                self._named.clear()
            named = self._named[key] = attrs.evolve(
                policy, name=f"http {request.method} {host}"
            )
        try:
            return await named.call(self._attempt, request, host, buffer)
        except Exception as exc:
            if not buffer and is_retryable_error(exc) and not is_unsent_error(exc):
                exc.add_note(self._unsafe_note(request.method))
            raise

    def _unsafe_note(self, method: str) -> str:
        header = self.idempotency_header
        how = (
            f"send an {header} header (if the server honours it) or " if header else ""
        )
        return (
            f"brace: not retried: the server may have acted on this {method} "
            f"request already; to retry it, {how}add {method} to retry_methods"
        )

    async def _once(
        self, request: httpx.Request, host: str, why: str | None
    ) -> httpx.Response:
        try:
            return await self._attempt(request, host, False)
        except Exception as exc:
            if why is not None and is_retryable_error(exc):
                exc.add_note(why)
                if _events.enabled(self.listeners):
                    _events.emit(
                        _events.RetryGaveUp(
                            name=_name(request),
                            attempts=1,
                            elapsed=None,
                            reason="not_retryable",
                            error=exc,
                        ),
                        self.listeners,
                    )
            raise

    async def _attempt(
        self, request: httpx.Request, host: str, buffer: bool
    ) -> httpx.Response:
        if self.rate_limiters is not None:
            await self.rate_limiters.get_or_create(host).acquire()
        # Straight to _exchange when there is no attempt timeout to arm.
        send = self._exchange if self.attempt_timeout is None else self._send
        if self.breakers is None:
            return await send(request, buffer)
        breaker = self.breakers.get_or_create(host)
        return await breaker.call(send, request, buffer)

    async def _send(self, request: httpx.Request, buffer: bool) -> httpx.Response:
        limit = self.attempt_timeout
        assert limit is not None  # noqa: S101
        scope = open_scope(limit)
        try:
            response = await self._exchange(request, buffer)
        except BaseException as exc:
            if scope.exit(type(exc), exc, exc.__traceback__):
                raise TimeoutError(timeout=limit, name=_name(request)) from exc
            raise
        scope.exit(None)
        return response

    async def _exchange(self, request: httpx.Request, buffer: bool) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if buffer and response.status_code in self.retry_status:
            return await _buffered(response)
        return response

    # -- the transport's life -----------------------------------------------

    def _with_inner(self, inner: httpx.AsyncBaseTransport) -> ResilientTransport:
        """The same policies and per-host state around another transport."""
        twin = copy.copy(self)
        twin.inner = inner
        return twin

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


def _name(request: httpx.Request) -> str:
    return f"http {request.method} {request.url.netloc.decode('ascii')}"


async def _buffered(response: httpx.Response) -> httpx.Response:
    """*response* with its body read and its connection released."""
    if response.is_stream_consumed:
        return response  # made in memory (httpx.MockTransport, a cache...)
    try:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(body),
        extensions=response.extensions,
    )
