"""The fault server that the brace.http tests and the demo talk to.

Raw requests go over asyncio streams, so the tests see exactly what the
server sends; the rest use a plain httpx client. asyncio tests run on the
virtual-time loop (see tests/test_http.py for why timings are exact).
"""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest

import brace
from brace.http._faultserver import (
    FaultServer,
    Received,
    Reply,
    disconnect,
    ok,
    reset,
    serve_in_thread,
    slow,
    status,
    too_many_requests,
    unavailable,
)


def plain() -> httpx.AsyncClient:
    """A plain httpx client (plain HTTP: no CA certificates to load)."""
    return httpx.AsyncClient(verify=False)  # noqa: S501


async def exchange(server: FaultServer, *requests: bytes) -> bytes:
    """Send raw *requests* on one connection; everything read until EOF."""
    port = int(server.url.rpartition(":")[2])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            writer.write(request)
        writer.write_eof()
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def test_url_needs_a_running_server() -> None:
    """Asking for the URL of a server that is not running says what to do."""
    with pytest.raises(RuntimeError, match="async with"):
        _ = FaultServer().url


def test_chances_cannot_exceed_one() -> None:
    """chaos() rejects chances that add up to more than 1."""
    with pytest.raises(ValueError, match="at most 1"):
        FaultServer().chaos("/", [(0.6, reset()), (0.6, disconnect())], seed=1)


def test_fault_builders() -> None:
    """The builders make the replies their names say."""
    assert ok() == Reply()
    assert ok(b"x", delay=1.0) == Reply(200, b"x", 1.0)
    assert slow(2.0, status=202) == Reply(202, delay=2.0)
    assert status(418, retry_after=3) == Reply(418, retry_after="3")
    assert unavailable(retry_after_date=5.0, delay=1.0) == Reply(
        503, delay=1.0, retry_after_date=5.0
    )
    assert too_many_requests(retry_after="1.5") == Reply(429, retry_after="1.5")


def test_received_header_lookup() -> None:
    """Header lookup is case-insensitive and gives None when missing."""
    request = Received("GET", "/", (("X-Key", "a"), ("x-key", "b")), b"")
    assert request.header("x-KEY") == "a"
    assert request.header("missing") is None


@pytest.mark.asyncio
class TestServer:
    """Faults, routes and the HTTP/1.1 subset, over real sockets."""

    async def test_faults_as_a_plain_client_sees_them(self) -> None:
        """Resets, hang-ups, statuses with hints, and slow replies."""
        loop = asyncio.get_running_loop()
        async with FaultServer() as server, plain() as http:
            server.script(
                "/f",
                reset(),
                disconnect(),
                unavailable(retry_after=2),
                too_many_requests(retry_after_date=3.0),
                slow(4.0),
                then=status(418),
            )
            url = server.url + "/f"
            with pytest.raises(httpx.ReadError):
                await http.get(url)
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(url)
            got = await http.get(url)
            assert (got.status_code, got.headers["retry-after"]) == (503, "2")
            got = await http.get(url)
            assert got.status_code == 429
            hint = brace.parse_retry_after(got.headers["retry-after"])
            assert hint is not None
            assert 2.5 < hint <= 4.0
            start = loop.time()
            assert (await http.get(url)).status_code == 200
            assert loop.time() - start == 4.0
            got = await http.get(url)
            assert (got.status_code, got.reason_phrase) == (418, "I'm a Teapot")
            assert server.hits["/f"] == 6

    async def test_echo_headers_and_unknown_statuses(self) -> None:
        """The default reply echoes the body; replies carry extra headers."""
        async with FaultServer() as server, plain() as http:
            server.always("/odd", Reply(599, b"odd", headers=(("X-Fault", "yes"),)))
            got = await http.post(server.url + "/echo?q=1", content=b"hello")
            assert got.text == "hello"
            got = await http.get(server.url + "/odd")
            assert (got.status_code, got.text) == (599, "odd")
            assert got.headers["x-fault"] == "yes"
            assert server.hits == {"/echo": 1, "/odd": 1}
            assert [r.path for r in server.received] == ["/echo", "/odd"]

    async def test_rate_limited_path(self) -> None:
        """limit() answers 429 past the window's quota, with the time left."""
        async with FaultServer() as server, plain() as http:
            server.limit("/api", requests=2, per=1.0)
            url = server.url + "/api"
            assert [(await http.get(url)).status_code for _ in range(2)] == [200] * 2
            await asyncio.sleep(0.25)
            got = await http.get(url)
            assert (got.status_code, got.headers["retry-after"]) == (429, "0.750")
            await asyncio.sleep(0.75)
            assert (await http.get(url)).status_code == 200

    async def test_chaos_is_reproducible(self) -> None:
        """A seeded schedule draws the same faults every run."""
        seen = []
        async with plain() as http:
            for _ in range(2):
                async with FaultServer() as server:
                    server.chaos("*", [(0.3, status(503)), (0.2, status(500))], seed=42)
                    url = server.url + "/x"
                    seen.append([(await http.get(url)).status_code for _ in range(20)])
        assert seen[0] == seen[1]
        counts = collections.Counter(seen[0])
        assert set(counts) == {200, 500, 503}

    async def test_default_route_and_clear(self) -> None:
        """The "*" route serves every other path; clear() forgets it all."""
        async with FaultServer() as server, plain() as http:
            server.always("*", status(503))
            server.always("/own", ok(b"mine"))
            assert (await http.get(server.url + "/any")).status_code == 503
            assert (await http.get(server.url + "/own")).text == "mine"
            server.clear()
            assert server.hits == {}
            assert not server.received
            assert (await http.get(server.url + "/any")).status_code == 200

    async def test_keep_alive_chunked_bodies_and_close(self) -> None:
        """Two requests on one connection; chunked bodies; Connection: close."""
        async with FaultServer() as server:
            raw = await exchange(
                server,
                b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n",
                b"GET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
            )
            assert raw.count(b"HTTP/1.1 200 OK") == 2
            assert b"\r\n\r\nabcde" in raw
            assert raw.endswith(b"Connection: close\r\n\r\nok")
            assert [r.body for r in server.received] == [b"abcde", b""]

    async def test_http_1_0_and_head(self) -> None:
        """HTTP/1.0 closes after one response, 1.1 on EOF; HEAD gets no body."""
        async with FaultServer() as server:
            raw = await exchange(server, b"HEAD /h HTTP/1.0\r\n\r\n")
            assert raw.startswith(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")
            assert raw.endswith(b"Connection: close\r\n\r\n")
            # HTTP/1.1 keeps the connection until the client ends it.
            raw = await exchange(server, b"GET /k HTTP/1.1\r\n\r\n")
            assert raw.endswith(b"Content-Type: text/plain\r\n\r\nok")

    async def test_malformed_requests(self) -> None:
        """A garbled or cut-off head gets a 400; a cut-off body, nothing."""
        async with FaultServer() as server:
            raw = await exchange(server, b"NONSENSE\r\n\r\n")
            assert raw.startswith(b"HTTP/1.1 400 Bad Request")
            raw = await exchange(server, b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            assert raw.startswith(b"HTTP/1.1 400 Bad Request")
            raw = await exchange(server, b"GET / HTTP/1.1\r\nHost: x")
            assert raw.startswith(b"HTTP/1.1 400 Bad Request")
            assert (
                await exchange(
                    server, b"PUT / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc"
                )
                == b""
            )
            assert server.hits == {}

    async def test_stops_with_requests_in_flight(self) -> None:
        """Leaving the block ends idle and sleeping connections at once."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with FaultServer() as server:
            server.always("/slow", slow(3600.0))
            port = int(server.url.rpartition(":")[2])
            busy = await asyncio.open_connection("127.0.0.1", port)
            busy[1].write(b"GET /slow HTTP/1.1\r\n\r\n")
            idle = await asyncio.open_connection("127.0.0.1", port)
            while len(server._tasks) < 2 or not server.hits["/slow"]:
                await asyncio.sleep(0)
        assert await busy[0].read() == b""
        assert await idle[0].read() == b""
        assert loop.time() == start
        for _, writer in (busy, idle):
            writer.close()
            await writer.wait_closed()
        await server.__aexit__(None, None, None)  # a second exit does nothing


def test_serve_in_thread() -> None:
    """A server in a thread serves synchronous clients too."""
    with serve_in_thread() as server:
        server.script("/x", status(503))
        with httpx.Client(base_url=server.url, verify=False) as http:  # noqa: S501
            assert http.get("/x").status_code == 503
            assert http.get("/x").status_code == 200
        assert server.hits["/x"] == 2


def test_serve_in_thread_reports_a_failed_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that cannot start raises in the calling thread."""

    async def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("no sockets today")

    monkeypatch.setattr(asyncio, "start_server", refuse)
    with pytest.raises(RuntimeError, match="did not start") as info, serve_in_thread():
        pass
    assert isinstance(info.value.__cause__, OSError)
