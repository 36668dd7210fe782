"""Both test runners this suite uses run on virtual time."""

from __future__ import annotations

import asyncio

import anyio
import pytest

import brace.testing


@pytest.mark.anyio
async def test_anyio_backends_run_on_virtual_clocks() -> None:
    """asyncio (brace's loop) and trio (MockClock) both jump through sleeps."""
    start = anyio.current_time()
    await anyio.sleep(3600)
    assert anyio.current_time() - start == 3600


@pytest.mark.asyncio
async def test_pytest_asyncio_runs_on_virtual_time() -> None:
    """pytest-asyncio tests get the loop from the conftest's factory hook."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(100)
    assert loop.time() - start == 100
    assert isinstance(loop, brace.testing.VirtualTimeEventLoop)
