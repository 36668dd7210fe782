from __future__ import annotations

import anyio
import pytest

import brace

pytestmark = pytest.mark.anyio


async def test_virtual_clock_jumps() -> None:
    start = anyio.current_time()
    await anyio.sleep(3600)
    assert anyio.current_time() - start == 3600


@pytest.mark.asyncio
async def test_pytest_asyncio_runs_on_virtual_time() -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(100)
    assert loop.time() - start == 100
    assert isinstance(loop, brace.testing.VirtualTimeEventLoop)
