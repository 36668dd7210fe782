"""A small HTTP/1.1 server with programmable faults, for tests and the demo.

Private API. It binds 127.0.0.1 on a free port, speaks just enough HTTP/1.1
for httpx (keep-alive, ``Content-Length`` and chunked request bodies) and
answers each request according to its path's *route*: scripted faults
first, then a rate limit, then seeded random faults, then a default reply.
Faults are slow responses, error statuses with ``Retry-After`` (seconds or
an HTTP-date), connection resets and disconnects. It counts the requests
received per path and keeps the last ones, so tests can assert attempts and
replayed bodies.

Its timers run on the loop it serves from: on brace's virtual-time loop a
ten-second "slow" response takes no real time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import random
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType

import attrs

from ._wire import BadRequest, Received, read_request, render

__all__ = [
    "Disconnect",
    "Fault",
    "FaultServer",
    "Received",
    "Reply",
    "Reset",
    "disconnect",
    "ok",
    "reset",
    "serve_in_thread",
    "slow",
    "status",
    "too_many_requests",
    "unavailable",
]


@attrs.frozen
class Reply:
    """Answer with *status* after *delay* seconds.

    Attributes:
        status: The status code.
        body: The body; ``None`` echoes the request's body (``b"ok"`` when
            it has none), so tests can check what a retry sent again.
        delay: Seconds to wait before answering (a slow server).
        retry_after: A ``Retry-After`` header value, sent as given.
        retry_after_date: Seconds from now, sent as an HTTP-date
            ``Retry-After`` (rounded up to the next whole second).
        headers: Extra response headers.
    """

    status: int = 200
    body: bytes | None = None
    delay: float = 0.0
    retry_after: str | None = None
    retry_after_date: float | None = None
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Reset:
    """Read the request, then reset the connection (TCP RST): no response."""


@attrs.frozen
class Disconnect:
    """Read the request, then close the connection without a response."""


Fault = Reply | Reset | Disconnect
OK = Reply()


def ok(body: bytes | None = None, *, delay: float = 0.0) -> Reply:
    """A 200 response (echoing the request body when *body* is ``None``)."""
    return Reply(200, body, delay)


def slow(delay: float, *, status: int = 200) -> Reply:
    """A response that takes *delay* seconds to start."""
    return Reply(status, delay=delay)


def status(code: int, *, retry_after: float | str | None = None) -> Reply:
    """A response with status *code*, with a ``Retry-After`` if given."""
    return Reply(code, retry_after=None if retry_after is None else str(retry_after))


def unavailable(
    *,
    retry_after: float | str | None = None,
    retry_after_date: float | None = None,
    delay: float = 0.0,
) -> Reply:
    """A 503, optionally with ``Retry-After`` in seconds or as an HTTP-date."""
    hint = None if retry_after is None else str(retry_after)
    return Reply(503, delay=delay, retry_after=hint, retry_after_date=retry_after_date)


def too_many_requests(
    *, retry_after: float | str | None = None, retry_after_date: float | None = None
) -> Reply:
    """A 429, optionally with ``Retry-After`` in seconds or as an HTTP-date."""
    hint = None if retry_after is None else str(retry_after)
    return Reply(429, retry_after=hint, retry_after_date=retry_after_date)


def reset() -> Reset:
    """Reset the connection after reading the request."""
    return Reset()


def disconnect() -> Disconnect:
    """Close the connection after reading the request, without answering."""
    return Disconnect()


@attrs.define
class _Route:
    """How one path answers: script, then rate limit, then chance, then *then*."""

    script: collections.deque[Fault] = attrs.Factory(collections.deque)
    then: Fault = OK
    chances: Sequence[tuple[float, Fault]] = ()
    rng: random.Random | None = None
    limit: int | None = None
    per: float = 1.0
    window_end: float = -math.inf
    window_count: int = 0

    def next(self, now: float) -> Fault:
        if self.script:
            return self.script.popleft()
        if self.limit is not None:
            if now >= self.window_end:
                self.window_end, self.window_count = now + self.per, 0
            self.window_count += 1
            if self.window_count > self.limit:
                wait = self.window_end - now
                return Reply(429, retry_after=f"{wait:.3f}")
        if self.rng is not None:
            draw = self.rng.random()
            for chance, fault in self.chances:
                if draw < chance:
                    return fault
                draw -= chance
        return self.then


class FaultServer:
    """An HTTP/1.1 server on 127.0.0.1 whose paths misbehave on demand.

    Use it as ``async with FaultServer() as server:``; :attr:`url` is its
    base URL. Every path answers 200 (echoing the request body) until told
    otherwise by :meth:`script`, :meth:`always`, :meth:`limit` or
    :meth:`chaos`. The route ``"*"`` applies to paths without their own.

    Attributes:
        hits: Requests received per path (query strings left out).
        received: The last requests received (at most *keep*), oldest first.
    """

    def __init__(self, *, keep: int = 1000) -> None:
        self._routes: dict[str, _Route] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.received: collections.deque[Received] = collections.deque(maxlen=keep)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._port = 0

    # -- programming the faults ------------------------------------------

    def _route(self, path: str) -> _Route:
        route = self._routes.get(path)
        if route is None:
            route = self._routes[path] = _Route()
        return route

    def script(self, path: str, *faults: Fault, then: Fault = OK) -> None:
        """The next requests to *path* get *faults* in turn, later ones *then*."""
        route = self._route(path)
        route.script.extend(faults)
        route.then = then

    def always(self, path: str, fault: Fault) -> None:
        """Every request to *path* gets *fault* (after any scripted faults)."""
        self._route(path).then = fault

    def limit(self, path: str, requests: int, per: float) -> None:
        """Answer 429 beyond *requests* per window of *per* seconds on *path*.

        The 429s carry ``Retry-After`` with the seconds left in the window.
        """
        route = self._route(path)
        route.limit, route.per = requests, per

    def chaos(
        self, path: str, faults: Sequence[tuple[float, Fault]], *, seed: int
    ) -> None:
        """Each request to *path* draws a fault: ``(chance, fault)`` pairs.

        Draws come from ``random.Random(seed)``, so a run is reproducible;
        when no fault is drawn, the route's default reply answers.
        """
        if sum(chance for chance, _ in faults) > 1:
            msg = "the chances of the faults must add up to at most 1"
            raise ValueError(msg)
        route = self._route(path)
        route.chances, route.rng = tuple(faults), random.Random(seed)

    def clear(self) -> None:
        """Forget every route, count and received request."""
        self._routes.clear()
        self.hits.clear()
        self.received.clear()

    # -- running -----------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:53211``."""
        if self._server is None:
            msg = "the fault server is not running: use it as `async with`"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self._port}"

    async def __aenter__(self) -> FaultServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101
        self._tasks.add(task)
        try:
            while await self._answer(reader, writer):
                pass
        except (BadRequest, ValueError):
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            # A connection handler is a root task that nobody awaits: its
            # cancellation (by __aexit__, or by asyncio.run at exit) ends
            # it, quietly, since asyncio 3.11 logs an error for a cancelled
            # handler.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; ``False`` when the connection is done."""
        request, keep_alive = await read_request(reader)
        if request is None:
            return False
        self.hits[request.path] += 1
        self.received.append(request)
        route = self._routes.get(request.path) or self._routes.get("*")
        loop = asyncio.get_running_loop()
        fault = OK if route is None else route.next(loop.time())
        if isinstance(fault, Reset):
            sock = writer.get_extra_info("socket")
            # Linger 0: close() sends RST instead of FIN.
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            writer.transport.abort()
            return False
        if isinstance(fault, Disconnect):
            return False
        if fault.delay:
            await asyncio.sleep(fault.delay)
        writer.write(render(fault, request, keep_alive))
        await writer.drain()
        return keep_alive


@contextlib.contextmanager
def serve_in_thread(server: FaultServer | None = None) -> Iterator[FaultServer]:
    """Run a fault server on its own asyncio loop in a background thread.

    For clients on another event loop (trio) or in synchronous code. Program
    its faults before sending requests: the routes are not locked.
    """
    server = server if server is not None else FaultServer()
    started = threading.Event()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    failed: list[Exception] = []

    async def run() -> None:
        stop = asyncio.Event()
        try:
            async with server:
                running.append((asyncio.get_running_loop(), stop))
                started.set()
                await stop.wait()
        except Exception as exc:
            failed.append(exc)
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    started.wait()
    if failed:
        thread.join()
        msg = "the fault server did not start"
        raise RuntimeError(msg) from failed[0]
    loop, stop = running[0]
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
