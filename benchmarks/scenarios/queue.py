"""Queue: a put and a get that never wait, then ``await f(item)``."""

from __future__ import annotations

import asyncio
import atexit

from benchmarks.registry import Batch, Row, Skip, at_most, optional_import, scenario
from benchmarks.scenarios._common import f, missing, repeat
from brace._queue import BoundedQueue

SIZE = 100


def _asyncio_queue() -> Batch:
    q: asyncio.Queue[int] = asyncio.Queue(SIZE)

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            q.put_nowait(1)
            result = await f(q.get_nowait())
        return result

    return batch


def _brace() -> Batch:
    q = BoundedQueue[int](SIZE)

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            q.put_nowait(1)
            result = await f(q.get_nowait())
        return result

    return batch


@scenario(
    "queue_roundtrip",
    order=60,
    title=(
        "`put_nowait(x)`, then `await f(get_nowait())` on a queue of 100 that "
        "never fills; ns per round trip"
    ),
    baseline="bare",
    targets=(at_most("brace", 1.0, "asyncio_queue"),),
)
def queue_roundtrip() -> list[Row | Skip]:
    rows: list[Row | Skip] = [
        Row("bare", "`await f(x)`", repeat(f, 1), expect=1),
        Row(
            "asyncio_queue",
            "`asyncio.Queue(100)`: `put_nowait` + `get_nowait`",
            _asyncio_queue(),
            expect=1,
        ),
    ]

    anyio = optional_import("anyio")
    if anyio is None:
        rows.append(missing("anyio_stream", "anyio"))
    else:
        send, receive = anyio.create_memory_object_stream(SIZE)
        # Closed at exit so that the streams do not warn when collected.
        atexit.register(send.close)
        atexit.register(receive.close)

        async def batch(n: int) -> object:
            result = None
            for _ in range(n):
                send.send_nowait(1)
                result = await f(receive.receive_nowait())
            return result

        rows.append(
            Row(
                "anyio_stream",
                "anyio memory object stream(100): `send_nowait` + `receive_nowait`",
                batch,
                expect=1,
            )
        )

    rows.append(
        Row(
            "brace",
            "`brace.BoundedQueue[int](100)`: `put_nowait` + `get_nowait`",
            _brace(),
            expect=1,
        )
    )
    return rows
