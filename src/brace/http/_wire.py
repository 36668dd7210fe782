"""The fault server's HTTP/1.1: reading requests, writing responses.

Just what httpx sends and needs: a request line, headers, a body framed by
``Content-Length`` or chunked, and responses framed by ``Content-Length``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import http
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._faultserver import Reply

__all__ = ["BadRequest", "Received", "read_request", "render"]


@attrs.frozen
class Received:
    """A request as the server received it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header *name* (case-insensitive), or ``None``."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


class BadRequest(Exception):
    """The client sent something that is not an HTTP/1.1 request."""


async def read_request(
    reader: asyncio.StreamReader,
) -> tuple[Received | None, bool]:
    """The next request on the connection, or ``None`` at a clean end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest from exc
        return None, False
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    request = Received(method, target.partition("?")[0], tuple(headers), b"")
    if (request.header("transfer-encoding") or "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(request.header("content-length") or 0))
    connection = (request.header("connection") or "").lower()
    keep_alive = version == "HTTP/1.1" and connection != "close"
    return attrs.evolve(request, body=body), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, its trailers skipped."""
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            break
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailers
    return b"".join(chunks)


def render(reply: Reply, request: Received, keep_alive: bool) -> bytes:
    """The bytes of the response that *reply* describes, for *request*."""
    body = reply.body if reply.body is not None else (request.body or b"ok")
    try:
        phrase = http.HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [
        f"HTTP/1.1 {reply.status} {phrase}",
        f"Content-Length: {len(body)}",
        "Content-Type: text/plain",
    ]
    if reply.retry_after is not None:
        lines.append(f"Retry-After: {reply.retry_after}")
    if reply.retry_after_date is not None:
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=reply.retry_after_date)
        when = when.replace(microsecond=0) + dt.timedelta(seconds=1)
        lines.append(f"Retry-After: {email.utils.format_datetime(when, usegmt=True)}")
    lines += [f"{name}: {value}" for name, value in reply.headers]
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if request.method == "HEAD" else head + body
