"""brace.http: the classifiers, ResilientTransport and client().

Requests go to the fault server (brace.http._faultserver) on 127.0.0.1,
over real sockets. The asyncio tests run on brace's virtual-time loop:
loopback I/O completes before the loop looks for something to wait for,
so the clock only jumps when every task waits for a timer (the server's
latency, a backoff, a timeout), and elapsed times are exact. The trio tests
run the server in a thread and take a few real milliseconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import importlib
import importlib.util
import io
import random
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
import brace.testing
from brace import _events
from brace._breaker import CircuitBreaker, CircuitState
from brace._ratelimit import RateLimiter
from brace._registry import Registry
from brace.http import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUS,
    ResilientTransport,
    client,
    default_breaker,
    is_failure_response,
    is_replayable,
    is_retryable_error,
    is_retryable_response,
    is_unsent_error,
    retry_after,
)
from brace.http._faultserver import (
    FaultServer,
    disconnect,
    ok,
    reset,
    serve_in_thread,
    slow,
    status,
    unavailable,
)

REQUEST = httpx.Request("GET", "http://example.com/")


def response(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, headers=headers, request=REQUEST)


class Echo(httpx.AsyncBaseTransport):
    """An in-memory transport: answers 200 at once, remembers being closed."""

    def __init__(self) -> None:
        self.closed = False
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(200, content=b"echo")

    async def aclose(self) -> None:
        self.closed = True


class FailFirst(httpx.AsyncBaseTransport):
    """Raises *errors* on the first attempts, then delegates to *inner*."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *errors: Exception) -> None:
        self.inner = inner
        self.errors = list(errors)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.errors:
            raise self.errors.pop(0)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def serving(
    **options: Any,
) -> AsyncIterator[tuple[FaultServer, httpx.AsyncClient]]:
    """A fault server and a resilient client for it (no backoff by default)."""
    options.setdefault("backoff", brace.Backoff.constant(0))
    options.setdefault("verify", False)  # plain HTTP; skips loading CA certificates
    async with (
        FaultServer() as server,
        client(base_url=server.url, **options) as http,
    ):
        yield server, http


def clock() -> float:
    return asyncio.get_running_loop().time()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- classifiers --------------------------------------------------------------


def test_retryable_status_is_the_set_that_is_transient_uses() -> None:
    """RETRYABLE_STATUS and brace.is_transient agree on every status."""
    assert {408, 429, 502, 503, 504} == RETRYABLE_STATUS
    for code in range(100, 600):
        error = httpx.HTTPStatusError("x", request=REQUEST, response=response(code))
        assert brace.is_transient(error) is (code in RETRYABLE_STATUS)
        assert is_retryable_response(response(code)) is (code in RETRYABLE_STATUS)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.PoolTimeout("busy"), True),
        (httpx.ReadError("reset"), True),
        (httpx.WriteError("broken pipe"), True),
        (httpx.RemoteProtocolError("hung up"), True),
        (httpx.ProxyError("proxy"), True),
        (httpx.UnsupportedProtocol("ftp"), False),
        (httpx.LocalProtocolError("bad header"), False),
        (brace.TimeoutError(timeout=1.0), True),
        (TimeoutError(), True),
        (brace.CircuitOpen("x", retry_after=1.0), False),
        (brace.RateLimited(retry_after=1.0), False),
        (ValueError(), False),
    ],
)
def test_is_retryable_error(exc: Exception, expected: bool) -> None:
    """Transport errors and timeouts are retryable, request errors are not."""
    assert is_retryable_error(exc) is expected
    if isinstance(exc, httpx.TransportError):
        assert brace.is_transient(exc) is expected


def test_is_unsent_error() -> None:
    """Only errors before anything was sent make any method safe to resend."""
    assert is_unsent_error(httpx.ConnectError("refused"))
    assert is_unsent_error(httpx.ConnectTimeout("slow"))
    assert is_unsent_error(httpx.PoolTimeout("busy"))
    assert not is_unsent_error(httpx.ReadError("reset"))
    assert not is_unsent_error(httpx.ReadTimeout("slow"))
    assert not is_unsent_error(brace.TimeoutError(timeout=1.0))


def test_is_failure_response() -> None:
    """5xx, 408 and 429 count against a host; other statuses do not."""
    failing = [code for code in range(100, 600) if is_failure_response(response(code))]
    assert failing == [408, 429, *range(500, 600)]


def test_retry_after_reads_responses_and_status_errors() -> None:
    """Retry-After in seconds or as an HTTP-date; None when absent."""
    assert retry_after(response(503, **{"Retry-After": "2.5"})) == 2.5
    past = email.utils.format_datetime(
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC), usegmt=True
    )
    assert retry_after(response(503, **{"Retry-After": past})) == 0.0
    soon = email.utils.format_datetime(
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True
    )
    hint = retry_after(response(429, **{"Retry-After": soon}))
    assert hint is not None
    assert 28 < hint <= 30
    error = httpx.HTTPStatusError(
        "x", request=REQUEST, response=response(429, **{"Retry-After": "7"})
    )
    assert retry_after(error) == 7.0
    assert retry_after(response(503)) is None
    assert retry_after(ValueError()) is None


def test_is_replayable() -> None:
    """Bodies in memory and multipart of seekable files replay; streams do not."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"

    class Unseekable(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    url = "http://example.com/"
    assert is_replayable(httpx.Request("GET", url))
    assert is_replayable(httpx.Request("PUT", url, content=b"data"))
    assert is_replayable(httpx.Request("PUT", url, json={"a": 1}))
    assert is_replayable(httpx.Request("PUT", url, data={"a": "1"}))
    files: dict[str, Any] = {"f": io.BytesIO(b"data"), "g": b"raw"}
    assert is_replayable(httpx.Request("PUT", url, files=files, data={"a": "1"}))
    files = {"f": Unseekable()}
    assert not is_replayable(httpx.Request("PUT", url, files=files))
    assert not is_replayable(httpx.Request("PUT", url, content=chunks()))


def test_idempotent_methods() -> None:
    """The methods RFC 9110 calls idempotent, and not POST or PATCH."""
    assert {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"} == IDEMPOTENT_METHODS


# The outcomes a model attempt can have: a status, or an httpx error class.
OUTCOMES: list[int | type[httpx.TransportError]] = [
    200,
    404,
    500,
    *sorted(RETRYABLE_STATUS),
    httpx.ConnectError,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.RemoteProtocolError,
    httpx.UnsupportedProtocol,
]


@settings(max_examples=40, deadline=None)
@given(
    method=st.sampled_from(["GET", "PUT", "DELETE", "POST", "PATCH", "OPTIONS"]),
    keyed=st.booleans(),
    override=st.sampled_from([None, True, False]),
    streamed=st.booleans(),
    outcomes=st.lists(st.sampled_from(OUTCOMES), min_size=3, max_size=3),
)
def test_retry_decisions_match_the_table(
    method: str,
    keyed: bool,
    override: bool | None,
    streamed: bool,
    outcomes: list[int | type[httpx.TransportError]],
) -> None:
    """Attempts made and the outcome returned follow the documented table."""
    sent: list[int | type[httpx.TransportError]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        outcome = outcomes[len(sent)]
        sent.append(outcome)
        if isinstance(outcome, int):
            return httpx.Response(outcome)
        raise outcome("injected", request=request)

    async def body() -> AsyncIterator[bytes]:
        yield b"data"

    async def send() -> int | type[BaseException]:
        transport = ResilientTransport(
            httpx.MockTransport(handler),
            backoff=brace.Backoff.constant(0),
            breakers=None,
        )
        async with httpx.AsyncClient(transport=transport) as http:
            try:
                response = await http.request(
                    method,
                    "http://example.com/",
                    content=body() if streamed else b"data",
                    headers={"Idempotency-Key": "k"} if keyed else None,
                    extensions={} if override is None else {"brace.retry": override},
                )
            except httpx.HTTPError as exc:
                return type(exc)
            return response.status_code

    with asyncio.Runner(loop_factory=brace.testing.VirtualTimeEventLoop) as runner:
        got = runner.run(send())

    # The model: which outcomes each kind of request retries.
    safe = override is True or method in IDEMPOTENT_METHODS or keyed
    if override is False or streamed:
        kind = "once"
    elif safe:
        kind = "all"
    else:
        kind = "unsent"

    def retried(outcome: int | type[httpx.TransportError]) -> bool:
        if kind == "once":
            return False
        if isinstance(outcome, int):
            return kind == "all" and outcome in RETRYABLE_STATUS
        if kind == "unsent":
            return outcome in (httpx.ConnectError, httpx.PoolTimeout)
        return outcome is not httpx.UnsupportedProtocol

    expected = 1
    while expected < 3 and retried(outcomes[expected - 1]):
        expected += 1
    assert len(sent) == expected
    assert got == outcomes[expected - 1]


# -- construction -------------------------------------------------------------


def test_constructible_outside_a_loop() -> None:
    """A transport and a client can be built at import time, before any loop."""
    transport = ResilientTransport()
    assert isinstance(transport.inner, httpx.AsyncHTTPTransport)
    assert isinstance(transport.breakers, Registry)
    assert transport.rate_limiters is None
    assert repr(transport).startswith("<ResilientTransport inner=")
    http = client(retry_methods=["get", "post"], verify=False)
    resilient = http._transport
    assert isinstance(resilient, ResilientTransport)
    assert resilient.retry_methods == {"GET", "POST"}


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"inner": httpx.HTTPTransport()}, TypeError, "async httpx transport"),
        ({"retry_status": [503, 700]}, ValueError, "status codes"),
        ({"retry_status": [True]}, ValueError, "status codes"),
        ({"retry_methods": "GET"}, TypeError, "collection of methods"),
        ({"retry_methods": 5}, TypeError, "collection of methods"),
        ({"retry_status": 503}, TypeError, "collection of status codes"),
        ({"attempts": None}, ValueError, "deadline"),
        ({"retry_methods": ["GET", "NOT A METHOD"]}, ValueError, "method names"),
        ({"idempotency_header": b"Key"}, TypeError, "header name"),
        ({"deadline": 0}, ValueError, "deadline"),
        ({"attempt_timeout": -1}, ValueError, "attempt_timeout"),
        ({"attempts": 0}, ValueError, "attempts"),
        ({"breakers": "yes"}, TypeError, "breakers must be"),
        ({"rate_limiters": 10}, TypeError, "rate_limiters must be"),
        ({"max_hosts": 0}, ValueError, "max_keys"),
        ({"listeners": [1]}, TypeError, "listeners"),
    ],
)
def test_bad_options_fail_at_construction(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Each bad option raises at once, saying what is wrong."""
    options.setdefault("inner", Echo())
    with pytest.raises(error, match=match):
        ResilientTransport(**options)


def test_breaker_options() -> None:
    """True, None, False, a callable or a Registry for breakers=."""
    echo = Echo()
    assert ResilientTransport(echo, breakers=None).breakers is None
    assert ResilientTransport(echo, breakers=False).breakers is None
    registry: Registry[str, CircuitBreaker] = Registry(default_breaker)
    assert ResilientTransport(echo, breakers=registry).breakers is registry
    made = ResilientTransport(echo, breakers=default_breaker).breakers
    assert made is not None
    assert made.get_or_create("h:1").name == "http h:1"
    limiters = ResilientTransport(echo, rate_limiters=lambda host: RateLimiter(5))
    assert limiters.rate_limiters is not None


def test_default_breaker() -> None:
    """Half of at least 20 attempts in 30 s opens it for 5 s."""
    kind, options = default_breaker("api:443").describe()
    assert kind == "breaker"
    assert options["name"] == "http api:443"
    assert options["failure_rate"] == 0.5
    assert options["min_calls"] == 20
    assert options["open_for"] == 5.0
    assert options["window"] == "TimeWindow(seconds=30.0, buckets=10)"
    assert options["on"] == "is_retryable_error"
    assert options["failure_on_result"] == "is_failure_response"


def test_client_wraps_mounts_and_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every transport the client routes to is wrapped, with shared state."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    mounted = httpx.AsyncHTTPTransport(verify=False)
    http = client(
        mounts={"http://internal": mounted, "http://direct": None}, verify=False
    )
    resilient = http._transport
    assert isinstance(resilient, ResilientTransport)
    wrapped = [t for t in http._mounts.values() if t is not None]
    assert len(wrapped) == 2  # the environment's proxy, and the mount
    for transport in wrapped:
        assert isinstance(transport, ResilientTransport)
        assert transport.breakers is resilient.breakers
        assert transport.inner is not resilient.inner
    assert any(t.inner is mounted for t in wrapped)  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_client_uses_a_given_transport_and_closes_it() -> None:
    """client(transport=...) wraps that transport; aclose() closes it."""
    echo = Echo()
    async with client(transport=echo, base_url="http://example.com") as http:
        assert (await http.get("/")).text == "echo"
    assert echo.closed


@pytest.mark.asyncio
async def test_named_policies_stay_bounded() -> None:
    """The per-(method, host) retry policies are bounded by max_hosts."""
    transport = ResilientTransport(Echo(), max_hosts=1, breakers=None)
    async with httpx.AsyncClient(transport=transport) as http:
        for method in ("GET", "PUT", "DELETE", "OPTIONS", "HEAD"):
            await http.request(method, "http://example.com/")
    assert list(transport._named) == [(True, "HEAD", "example.com")]
    assert transport._named[True, "HEAD", "example.com"].name == (
        "http HEAD example.com"
    )


@pytest.mark.asyncio
async def test_in_memory_responses_are_retried_too() -> None:
    """Responses made in memory (httpx.MockTransport) retry and give up alike."""
    answers = iter([503, 429, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), headers={"Retry-After": "0"})

    transport = ResilientTransport(httpx.MockTransport(handler), breakers=None)
    async with httpx.AsyncClient(transport=transport) as http:
        assert (await http.get("http://example.com/")).status_code == 503
        assert (await http.get("http://example.com/")).status_code == 200


# -- retries against the fault server --------------------------------------------


@pytest.mark.asyncio
class TestRetries:
    """What is retried, how long it waits, and what the caller gets."""

    async def test_faults_then_success(self) -> None:
        """A reset, a 503 with Retry-After and a hang-up are retried to a 200."""
        events: list[_events.Event] = []
        rng_draw = random.Random(7).random()
        async with serving(
            attempts=4,
            backoff=brace.Backoff.constant(0.5),
            rng=random.Random(7),
            listeners=[events.append],
        ) as (server, http):
            server.script(
                "/flaky", reset(), unavailable(retry_after="1.5"), disconnect()
            )
            start = clock()
            got = await http.get("/flaky")
            assert got.status_code == 200
            assert clock() - start == pytest.approx(
                0.5 + 1.5 * (1 + 0.1 * rng_draw) + 0.5
            )
            assert server.hits["/flaky"] == 4
            name = f"http GET {server.url.removeprefix('http://')}"
        scheduled = [e for e in events if isinstance(e, _events.RetryScheduled)]
        assert [e.name for e in scheduled] == [name] * 3
        assert isinstance(scheduled[0].error, httpx.ReadError)
        assert scheduled[1].error is None
        assert isinstance(scheduled[1].result, httpx.Response)
        assert scheduled[1].result.status_code == 503
        assert isinstance(scheduled[2].error, httpx.RemoteProtocolError)

    async def test_gives_up_with_the_last_response(self) -> None:
        """Retries that give up on a status return it, as a plain client would."""
        events: list[_events.Event] = []
        async with serving(
            backoff=brace.Backoff.constant(0.25), listeners=[events.append]
        ) as (server, http):
            server.always("/down", unavailable())
            start = clock()
            got = await http.get("/down")
            assert clock() - start == 0.5
            assert server.hits["/down"] == 3
            assert got.status_code == 503
            assert got.text == "ok"
            assert got.elapsed >= dt.timedelta(0)
            with pytest.raises(httpx.HTTPStatusError) as info:
                got.raise_for_status()
            assert brace.is_transient(info.value)
            async with http.stream("GET", "/down") as streamed:
                assert streamed.status_code == 503
                assert await streamed.aread() == b"ok"
        gave_up = [e for e in events if isinstance(e, _events.RetryGaveUp)]
        assert [e.reason for e in gave_up] == ["attempts", "attempts"]

    async def test_gives_up_with_the_last_error(self) -> None:
        """Retries that give up on an error raise it unchanged, with a note."""
        async with serving(breakers=None) as (server, http):
            server.always("/gone", reset())
            with pytest.raises(httpx.ReadError) as info:
                await http.get("/gone")
            assert server.hits["/gone"] == 3
            assert "brace: gave up after 3 attempts" in info.value.__notes__[-1]

    async def test_statuses_that_are_not_retried_pass_through(self) -> None:
        """A 404 or 500 is returned at once, its body still streamable."""
        async with serving() as (server, http):
            server.always("/missing", status(404))
            server.always("/bug", status(500))
            async with http.stream("GET", "/missing") as got:
                assert got.status_code == 404
                assert [chunk async for chunk in got.aiter_raw()] == [b"ok"]
            assert (await http.get("/bug")).status_code == 500
            assert server.hits == {"/missing": 1, "/bug": 1}

    async def test_custom_retry_status(self) -> None:
        """retry_status= replaces the statuses that are retried."""
        async with serving(retry_status=[500]) as (server, http):
            server.script("/bug", status(500))
            server.always("/down", unavailable())
            assert (await http.get("/bug")).status_code == 200
            assert (await http.get("/down")).status_code == 503
            assert server.hits == {"/bug": 2, "/down": 1}

    async def test_retry_after_http_date(self) -> None:
        """An HTTP-date Retry-After is waited for (the date has 1 s resolution)."""
        async with serving() as (server, http):
            server.script("/later", unavailable(retry_after_date=2.0))
            start = clock()
            assert (await http.get("/later")).status_code == 200
            # The date is rounded up to the next second, and jittered up 10 %.
            assert 1.9 < clock() - start <= 3.0 * 1.1

    async def test_retry_after_is_capped(self) -> None:
        """max_server_delay caps a greedy Retry-After (jitter stays under it)."""
        async with serving(max_server_delay=2.0) as (server, http):
            server.script("/greedy", unavailable(retry_after=120))
            start = clock()
            assert (await http.get("/greedy")).status_code == 200
            assert clock() - start == 2.0

    async def test_deadline_gives_up_rather_than_wait_in_vain(self) -> None:
        """A Retry-After past the deadline returns the response at once."""
        events: list[_events.Event] = []
        async with serving(attempts=None, deadline=10.0, listeners=[events.append]) as (
            server,
            http,
        ):
            server.always("/busy", unavailable(retry_after=30))
            start = clock()
            assert (await http.get("/busy")).status_code == 503
            assert clock() == start
            assert server.hits["/busy"] == 1
        assert [e.reason for e in events if isinstance(e, _events.RetryGaveUp)] == [
            "deadline"
        ]

    async def test_deadline_interrupts_an_attempt(self) -> None:
        """The total deadline cuts a slow attempt short with brace.TimeoutError."""
        async with serving(deadline=5.0) as (server, http):
            server.always("/slow", slow(100.0))
            start = clock()
            with pytest.raises(brace.TimeoutError) as info:
                await http.get("/slow")
            assert clock() - start == 5.0
            assert info.value.timeout == 5.0
            assert info.value.name == f"http GET {server.url[7:]}"
            assert isinstance(info.value.__cause__, asyncio.CancelledError)
            assert server.hits["/slow"] == 1
            assert (await http.get("/fast")).status_code == 200

    async def test_attempt_timeout_is_retried(self) -> None:
        """Timed out attempts are retried; the last one raises brace.TimeoutError."""
        async with serving(
            attempt_timeout=1.0, backoff=brace.Backoff.constant(0.5)
        ) as (server, http):
            server.always("/slow", slow(10.0))
            start = clock()
            with pytest.raises(brace.TimeoutError) as info:
                await http.get("/slow")
            assert clock() - start == 4.0
            assert server.hits["/slow"] == 3
            assert "gave up after 3 attempts" in info.value.__notes__[-1]
            server.script("/once", slow(10.0))
            start = clock()
            assert (await http.get("/once")).status_code == 200
            assert clock() - start == 1.5

    async def test_attempt_timeout_within_a_deadline(self) -> None:
        """No attempt starts that the deadline would cut: give up early."""
        async with serving(
            attempt_timeout=1.0, deadline=3.0, backoff=brace.Backoff.constant(0.5)
        ) as (server, http):
            server.always("/slow", slow(10.0))
            start = clock()
            with pytest.raises(brace.TimeoutError) as info:
                await http.get("/slow")
            assert clock() - start == 2.5
            assert "(deadline of 3 s)" in info.value.__notes__[-1]
            assert server.hits["/slow"] == 2

    async def test_a_budget_can_stop_retries(self) -> None:
        """A shared retry budget that refuses makes requests give up at once."""

        class Budget:
            def __init__(self) -> None:
                self.asked = 0
                self.deposits: list[int] = []

            def withdraw(self, error: Exception | None, /) -> bool:
                self.asked += 1
                return self.asked == 1

            def deposit(self, attempts: int, last_error: Exception | None, /) -> None:
                self.deposits.append(attempts)

        budget = Budget()
        events: list[_events.Event] = []
        async with serving(budget=budget, listeners=[events.append]) as (server, http):
            server.script("/a", unavailable())
            assert (await http.get("/a")).status_code == 200
            server.always("/b", unavailable())
            assert (await http.get("/b")).status_code == 503
            assert server.hits == {"/a": 2, "/b": 1}
        assert budget.deposits == [2]
        gave_up = [e for e in events if isinstance(e, _events.RetryGaveUp)]
        assert [e.reason for e in gave_up] == ["budget"]

    async def test_head_requests(self) -> None:
        """HEAD is idempotent and has no body."""
        async with serving() as (server, http):
            server.script("/h", unavailable())
            got = await http.head("/h")
            assert (got.status_code, got.content) == (200, b"")
            assert server.hits["/h"] == 2


@pytest.mark.asyncio
class TestWhatIsSafeToRetry:
    """Methods, idempotency keys, overrides and request bodies."""

    async def test_post_is_not_retried(self) -> None:
        """A POST that may have reached the server is not sent again."""
        async with serving() as (server, http):
            server.script("/orders", reset())
            with pytest.raises(httpx.ReadError) as info:
                await http.post("/orders", content=b"order")
            assert server.hits["/orders"] == 1
            assert info.value.__notes__ == [
                (
                    "brace: not retried: the server may have acted on this POST "
                    "request already; to retry it, send an Idempotency-Key header "
                    "(if the server honours it) or add POST to retry_methods"
                )
            ]
            server.script("/orders", unavailable())
            assert (await http.post("/orders", content=b"order")).status_code == 503
            assert server.hits["/orders"] == 2

    async def test_note_without_an_idempotency_header(self) -> None:
        """With idempotency_header=None the note only suggests retry_methods."""
        async with serving(idempotency_header=None) as (server, http):
            server.script("/orders", reset())
            with pytest.raises(httpx.ReadError) as info:
                await http.post(
                    "/orders", content=b"x", headers={"Idempotency-Key": "k"}
                )
            assert info.value.__notes__ == [
                (
                    "brace: not retried: the server may have acted on this POST "
                    "request already; to retry it, add POST to retry_methods"
                )
            ]

    async def test_idempotency_key_makes_post_retryable(self) -> None:
        """With an Idempotency-Key, a POST is retried with the same body."""
        async with serving() as (server, http):
            server.script("/orders", reset(), unavailable())
            got = await http.post(
                "/orders", json={"item": 1}, headers={"Idempotency-Key": "k1"}
            )
            assert got.status_code == 200
            bodies = {r.body for r in server.received}
            assert bodies == {b'{"item":1}'}
            assert [r.header("idempotency-key") for r in server.received] == ["k1"] * 3

    async def test_retry_methods_and_the_extension(self) -> None:
        """retry_methods= and the brace.retry extension opt a request in or out."""
        async with serving(retry_methods={"post"}) as (server, http):
            server.script("/a", reset())
            assert (await http.post("/a", content=b"x")).status_code == 200
            server.script("/b", reset())
            with pytest.raises(httpx.ReadError) as info:
                await http.get("/b")  # GET is no longer in retry_methods
            assert "add GET to retry_methods" in info.value.__notes__[0]
        async with serving() as (server, http):
            server.script("/c", reset())
            got = await http.patch("/c", content=b"x", extensions={"brace.retry": True})
            assert got.status_code == 200
            server.script("/d", reset())
            with pytest.raises(httpx.ReadError) as info:
                await http.get("/d", extensions={"brace.retry": False})
            assert not getattr(info.value, "__notes__", [])
            assert server.hits == {"/c": 2, "/d": 1}

    async def test_unsent_requests_are_retried_whatever_the_method(self) -> None:
        """A POST whose connection failed is safe to send again."""
        events: list[_events.Event] = []
        port = closed_port()
        async with client(
            base_url=f"http://127.0.0.1:{port}",
            backoff=brace.Backoff.constant(0),
            listeners=[events.append],
            verify=False,
        ) as http:
            with pytest.raises(httpx.ConnectError) as info:
                await http.post("/orders", content=b"x")
        assert "gave up after 3 attempts" in info.value.__notes__[-1]
        assert len([e for e in events if isinstance(e, _events.RetryScheduled)]) == 2
        async with FaultServer() as server:
            inner = httpx.AsyncHTTPTransport(verify=False)
            flaky = FailFirst(inner, httpx.ConnectError("no"))
            async with client(transport=flaky, base_url=server.url) as http:
                assert (await http.post("/orders", content=b"x")).status_code == 200
            assert server.hits["/orders"] == 1

    async def test_streamed_bodies_are_not_retried(self) -> None:
        """A body that can be read once is sent once, and the error says why."""
        events: list[_events.Event] = []

        async def body() -> AsyncIterator[bytes]:
            yield b"part 1, "
            yield b"part 2"

        async with serving(listeners=[events.append]) as (server, http):
            got = await http.put("/upload", content=body())
            assert got.text == "part 1, part 2"
            server.script("/upload", reset())
            with pytest.raises(httpx.ReadError) as info:
                await http.put("/upload", content=body())
            assert server.hits["/upload"] == 2
            assert "the request body is a stream" in info.value.__notes__[0]
            server.script("/upload", status(503))
            assert (await http.put("/upload", content=body())).status_code == 503
            server.script("/upload", reset())
            with pytest.raises(httpx.ReadError) as info:
                await http.put(
                    "/upload", content=body(), extensions={"brace.retry": False}
                )
            assert not getattr(info.value, "__notes__", [])
        gave_up = [e for e in events if isinstance(e, _events.RetryGaveUp)]
        assert len(gave_up) == 1
        assert (gave_up[0].reason, gave_up[0].attempts) == ("not_retryable", 1)

    async def test_streamed_body_note_without_listeners(self) -> None:
        """The note on an unretried stream does not depend on listeners."""

        async def body() -> AsyncIterator[bytes]:
            yield b"data"

        async with serving() as (server, http):
            server.script("/upload", disconnect())
            with pytest.raises(httpx.RemoteProtocolError) as info:
                await http.put("/upload", content=body())
            assert "the request body is a stream" in info.value.__notes__[0]

    async def test_multipart_files_are_replayed(self) -> None:
        """Multipart uploads of seekable files are rewound and sent again."""
        async with serving() as (server, http):
            server.script("/files", reset())
            got = await http.put("/files", files={"f": io.BytesIO(b"file data")})
            assert got.status_code == 200
            first, second = server.received
            assert first.body == second.body
            assert b"file data" in first.body


# -- per-host breakers and rate limiters -------------------------------------------


@pytest.mark.asyncio
class TestHosts:
    """The circuit breakers and rate limiters kept per host."""

    async def test_open_breaker_fails_fast_and_recovers(self) -> None:
        """An open breaker raises CircuitOpen without reaching the host."""

        def breaker(host: str) -> CircuitBreaker:
            return CircuitBreaker(
                name=host,
                failure_rate=None,
                consecutive_failures=2,
                open_for=10.0,
                failure_on_result=is_failure_response,
            )

        async with serving(breakers=breaker) as (server, http):
            server.always("/api", unavailable())
            with pytest.raises(brace.CircuitOpen):
                await http.get("/api")
            assert server.hits["/api"] == 2  # the third attempt failed fast
            with pytest.raises(brace.CircuitOpen) as info:
                await http.get("/api")
            assert info.value.retry_after == 10.0
            assert server.hits["/api"] == 2
            await asyncio.sleep(10.0)
            server.always("/api", ok())
            assert (await http.get("/api")).status_code == 200
            resilient = http._transport
            assert isinstance(resilient, ResilientTransport)
            assert resilient.breakers is not None
            host = server.url[7:]
            assert resilient.breakers.get_or_create(host).state is CircuitState.CLOSED

    async def test_default_breakers_count_failure_statuses(self) -> None:
        """The default breaker opens on failing statuses, never on 404s."""
        events: list[_events.Event] = []
        async with serving(attempts=1, listeners=[events.append]) as (server, http):
            server.always("/missing", status(404))
            server.always("/down", unavailable())
            for _ in range(5):
                assert (await http.get("/missing")).status_code == 404
            resilient = http._transport
            assert isinstance(resilient, ResilientTransport)
            assert resilient.breakers is not None
            breaker = resilient.breakers.get_or_create(server.url[7:])
            assert breaker.statistics().failures == 0
            # At 20 calls (its minimum), 15 of them failed: at least half.
            for _ in range(14):
                assert (await http.get("/down")).status_code == 503
            assert breaker.state == "closed"
            assert (await http.get("/down")).status_code == 503
            assert breaker.state == "open"
            with pytest.raises(brace.CircuitOpen):
                await http.get("/missing")
        changes = [e for e in events if isinstance(e, _events.CircuitStateChanged)]
        assert [(e.name, e.new) for e in changes] == [(breaker.name, "open")]

    async def test_open_breakers_survive_the_bound_on_hosts(self) -> None:
        """Past max_hosts, closed breakers are dropped, tripped ones kept."""
        resilient = ResilientTransport(Echo(), max_hosts=1)
        assert resilient.breakers is not None
        tripped = resilient.breakers.get_or_create("a:80")
        tripped.isolate()
        resilient.breakers.get_or_create("b:80")
        resilient.breakers.get_or_create("c:80")
        assert "a:80" in resilient.breakers
        assert "b:80" not in resilient.breakers

    async def test_a_shared_registry_shares_breakers(self) -> None:
        """Two clients given one Registry share each host's breaker."""
        registry: Registry[str, CircuitBreaker] = Registry(default_breaker)
        async with FaultServer() as server:
            async with (
                client(base_url=server.url, breakers=registry, verify=False) as one,
                client(base_url=server.url, breakers=registry, verify=False) as two,
            ):
                await one.get("/")
                await two.get("/")
            assert list(registry) == [server.url[7:]]
            assert registry.get_or_create(server.url[7:]).statistics().calls == 2

    async def test_rate_limiter_paces_every_attempt(self) -> None:
        """A host's limiter spaces attempts, retries included."""
        async with serving(rate_limiters=lambda host: RateLimiter(2, per=1.0)) as (
            server,
            http,
        ):
            start = clock()
            for _ in range(3):
                await http.get("/")
            assert clock() - start == 1.0
            server.script("/flaky", reset())
            start = clock()
            assert (await http.get("/flaky")).status_code == 200
            assert clock() - start == 1.0  # two attempts, each 0.5 s apart


# -- cancellation ------------------------------------------------------------------


@pytest.mark.asyncio
class TestCancellation:
    """Cancellation from outside passes through and leaves nothing behind."""

    async def test_cancelled_while_waiting_to_retry(self) -> None:
        """Cancelling during the wait for Retry-After sends nothing more."""
        async with serving() as (server, http):
            server.script("/later", unavailable(retry_after=10))
            task = asyncio.create_task(http.get("/later"))
            await asyncio.sleep(1.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(20.0)
            assert server.hits["/later"] == 1

    async def test_asyncio_timeout_is_not_claimed(self) -> None:
        """An outer asyncio.timeout wins over the transport's own timeouts."""
        async with serving(deadline=100.0, attempt_timeout=50.0) as (server, http):
            server.always("/slow", slow(10.0))
            start = clock()
            with pytest.raises(TimeoutError) as info:
                async with asyncio.timeout(0.5):
                    await http.get("/slow")
            assert not isinstance(info.value, brace.BraceError)
            assert clock() - start == 0.5
            assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
            assert (await http.get("/fast")).status_code == 200

    async def test_move_on_after(self) -> None:
        """anyio.move_on_after cancels a request in flight, silently."""
        async with serving(deadline=100.0) as (server, http):
            server.always("/slow", slow(10.0))
            with anyio.move_on_after(0.5) as scope:
                await http.get("/slow")
            assert scope.cancelled_caught
            assert (await http.get("/fast")).status_code == 200

    async def test_task_group(self) -> None:
        """A failing sibling cancels the request; only its error surfaces."""

        async def fail_soon() -> None:
            await asyncio.sleep(0.5)
            raise ValueError("sibling")

        async with serving(attempt_timeout=5.0) as (server, http):
            server.always("/slow", slow(10.0))
            with pytest.raises(ExceptionGroup) as info:
                async with asyncio.TaskGroup() as group:
                    group.create_task(http.get("/slow"))
                    group.create_task(fail_soon())
            assert [type(e) for e in info.value.exceptions] == [ValueError]

    async def test_cancelled_at_the_instant_the_limiter_grants(self) -> None:
        """A request cancelled as its rate-limit wait ends is never sent."""
        limiters: Registry[str, RateLimiter] = Registry(
            lambda host: RateLimiter(1, per=1.0)
        )
        async with serving(rate_limiters=limiters) as (server, http):
            await http.get("/")
            task = asyncio.create_task(http.get("/second"))
            await asyncio.sleep(0)
            loop = asyncio.get_running_loop()
            loop.call_at(loop.time() + 1.0, task.cancel)
            with pytest.raises(asyncio.CancelledError):
                await task
            assert server.hits["/second"] == 0
            limiter = limiters.get_or_create(server.url[7:])
            assert limiter.statistics().waiting == 0
            assert (await http.get("/third")).status_code == 200

    async def test_cancelled_probe_frees_the_breaker(self) -> None:
        """A half-open probe cancelled in flight lets the next request probe."""

        def breaker(host: str) -> CircuitBreaker:
            return CircuitBreaker(
                name=host, failure_rate=None, consecutive_failures=1, open_for=1.0
            )

        async with serving(attempts=1, breakers=breaker) as (server, http):
            server.script("/", reset(), slow(10.0))
            with pytest.raises(httpx.ReadError):
                await http.get("/")
            await asyncio.sleep(1.0)
            with anyio.move_on_after(0.5):
                await http.get("/")  # the probe, cancelled
            assert (await http.get("/")).status_code == 200
            assert server.hits["/"] == 3


# -- trio ------------------------------------------------------------------------


def test_on_trio() -> None:
    """The transport works on trio (server in a thread; a few ms real time)."""

    async def main(url: str) -> tuple[int, type[BaseException] | None, bool]:
        backoff = brace.Backoff.constant(0.001)
        inner = httpx.AsyncHTTPTransport(verify=False)
        hurried = ResilientTransport(inner, backoff=backoff, deadline=0.02)
        patient = ResilientTransport(inner, backoff=backoff)
        async with (
            httpx.AsyncClient(transport=patient, base_url=url) as http,
            httpx.AsyncClient(transport=hurried, base_url=url) as impatient,
        ):
            got = await http.get("/flaky")
            caught: type[BaseException] | None = None
            try:
                await impatient.get("/slow")
            except brace.TimeoutError as exc:
                caught = type(exc)
            with trio.move_on_after(0.01) as scope:
                await http.get("/slow")
            return got.status_code, caught, scope.cancelled_caught

    with serve_in_thread() as server:
        server.script("/flaky", reset(), unavailable(retry_after="0.001"))
        server.always("/slow", slow(5.0))
        code, caught, cancelled = trio.run(main, server.url)
        assert code == 200
        assert server.hits["/flaky"] == 3
        assert caught is brace.TimeoutError
        assert cancelled


# -- importing -----------------------------------------------------------------


def test_import_brace_needs_no_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh import of brace, with httpx missing, works and skips brace.http."""
    before = {n: m for n, m in sys.modules.items() if n.split(".")[0] == "brace"}
    monkeypatch.setitem(sys.modules, "httpx", None)
    for name in before:
        del sys.modules[name]
    try:
        fresh = importlib.import_module("brace")
        assert fresh is not brace
        assert fresh.is_transient(ConnectionError())
        assert "brace.http" not in sys.modules
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "brace"]:
            del sys.modules[name]
        sys.modules.update(before)


def test_brace_http_without_httpx_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Importing brace.http without httpx says to install the extra."""
    monkeypatch.setitem(sys.modules, "httpx", None)
    for name in [n for n in sys.modules if n.startswith("brace.http")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError) as info:
        importlib.import_module("brace.http")
    assert str(info.value) == 'brace.http needs httpx: pip install "brace[httpx]"'
    assert info.value.name == "httpx"


@pytest.mark.slow
def test_import_brace_without_httpx() -> None:
    """In a fresh interpreter without httpx, import brace works."""
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "import brace\n"
        "print(brace.is_transient(ConnectionError()))\n"
    )
    proc = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "True"


# -- the example -----------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "http_client.py"


@pytest.mark.skipif(
    not hasattr(brace, "CircuitBreaker"),
    reason="the example uses brace.CircuitBreaker, exported when breakers land",
)
def test_example(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/http_client.py shows each behaviour (on virtual time)."""
    spec = importlib.util.spec_from_file_location("_brace_example_http", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with asyncio.Runner(loop_factory=brace.testing.VirtualTimeEventLoop) as runner:
        loop = runner.get_loop()
        start = loop.time()
        runner.run(example.main())
        elapsed = loop.time() - start
    out = capsys.readouterr().out
    assert "attempt 2: status 503; retrying in 0.05 s" in out
    assert "-> 200 after 4 attempts" in out
    assert "-> 503 Service Unavailable, as httpx would return it" in out
    assert "brace: not retried: the server may have acted on this POST" in out
    assert '-> with an Idempotency-Key: 200 {"amount":10}' in out
    assert "timed out after 0.5 s" in out
    assert "closed -> open (consecutive_failures)" in out
    assert "-> brace.CircuitOpen after 3 attempts" in out
    assert "half_open -> closed (probes_succeeded)" in out
    assert "-> after 0.2 s, the probe goes through: 200" in out
    assert elapsed == pytest.approx(0.955, abs=0.001)


def test_example_has_a_docstring_and_a_main_guard() -> None:
    """The example follows the conventions of examples/ (run_all runs it)."""
    source = EXAMPLE.read_text()
    assert source.startswith('"""')
    assert 'if __name__ == "__main__":' in source
