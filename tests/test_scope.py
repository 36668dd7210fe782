"""Tests for brace._scope: the cancellable regions under timeouts and tokens."""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

import anyio
import pytest

from brace._scope import AnyioScope, AsyncioScope, open_scope


def _task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None
    return task


class TestBackendNeutral:
    """open_scope and AnyioScope on both backends."""

    pytestmark = pytest.mark.anyio

    async def test_open_scope_picks_backend(self, anyio_backend_name: str) -> None:
        """open_scope talks to asyncio directly and goes through anyio elsewhere."""
        scope = open_scope(1.0)
        try:
            expected = AsyncioScope if anyio_backend_name == "asyncio" else AnyioScope
            assert type(scope) is expected
            assert scope.deadline == anyio.current_time() + 1.0
        finally:
            assert scope.exit(None) is False

    async def test_open_scope_without_timeout(self) -> None:
        """No timeout means an infinite deadline and no cancellation."""
        scope = open_scope(None)
        assert scope.deadline == math.inf
        await anyio.sleep(100)
        assert scope.exit(None) is False

    async def test_deadline_claims_its_cancellation(self) -> None:
        """A region interrupted by its own deadline says so at exit."""
        start = anyio.current_time()
        scope = open_scope(2.0)
        with pytest.raises(anyio.get_cancelled_exc_class()) as info:
            await anyio.sleep(10)
        assert scope.exit(info.type, info.value, info.tb) is True
        assert anyio.current_time() - start == 2.0
        await anyio.sleep(1)  # nothing left over

    async def test_anyio_scope_cancel(self) -> None:
        """AnyioScope.cancel interrupts the region at its next checkpoint."""
        scope = AnyioScope(None)
        assert scope.deadline == math.inf
        scope.cancel()
        with pytest.raises(anyio.get_cancelled_exc_class()) as info:
            await anyio.sleep(5)
        assert scope.exit(info.type, info.value, info.tb) is True

    async def test_anyio_scope_outer_cancellation_not_claimed(self) -> None:
        """An AnyioScope does not claim cancellation that comes from outside."""
        claimed: list[bool] = []
        with anyio.move_on_after(1) as outer:
            scope = AnyioScope(5.0)
            try:
                await anyio.sleep(10)
            except BaseException as exc:
                claimed.append(scope.exit(type(exc), exc, exc.__traceback__))
                raise
        assert outer.cancelled_caught
        assert claimed == [False]

    async def test_anyio_scope_deadline(self) -> None:
        """AnyioScope's deadline is measured on the running clock."""
        start = anyio.current_time()
        scope = AnyioScope(3.0)
        assert scope.deadline == start + 3.0
        with pytest.raises(anyio.get_cancelled_exc_class()) as info:
            await anyio.sleep(10)
        assert scope.exit(info.type, info.value, info.tb) is True
        assert anyio.current_time() - start == 3.0


@pytest.mark.asyncio
class TestAsyncioScope:
    """AsyncioScope's bookkeeping of the task's cancellation counters."""

    async def test_self_cancel_without_await_leaves_nothing(self) -> None:
        """A region that cancels itself and ends without awaiting leaves no trace."""
        loop = asyncio.get_running_loop()
        scope = AsyncioScope(loop, None)
        scope.cancel()
        assert scope.exit(None) is False
        assert _task().cancelling() == 0
        # The delayed delivery runs now and must be a no-op.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert _task().cancelling() == 0

    async def test_self_cancel_interrupts_next_await(self) -> None:
        """A region that cancels itself is interrupted at its next await."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        scope = AsyncioScope(loop, None)
        scope.cancel()
        with pytest.raises(asyncio.CancelledError) as info:
            await asyncio.sleep(10)
        assert scope.exit(info.type, info.value, info.tb) is True
        assert loop.time() == start
        assert _task().cancelling() == 0
        await asyncio.sleep(0)

    async def test_cancel_from_other_task(self) -> None:
        """Another task of the loop cancels the region at once."""
        loop = asyncio.get_running_loop()
        scopes: list[AsyncioScope] = []
        claimed: list[bool] = []

        async def region() -> None:
            scope = AsyncioScope(loop, None)
            scopes.append(scope)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError as exc:
                claimed.append(scope.exit(type(exc), exc))
            assert _task().cancelling() == 0

        task = asyncio.create_task(region())
        await asyncio.sleep(1)
        scopes[0].cancel()
        scopes[0].cancel()  # twice is the same as once
        await task
        assert claimed == [True]
        assert loop.time() == 1.0

    async def test_cancel_from_a_plain_callback(self) -> None:
        """A loop callback (no current task) cancels the region directly."""
        loop = asyncio.get_running_loop()
        scope = AsyncioScope(loop, None)
        loop.call_later(2, scope.cancel)
        with pytest.raises(asyncio.CancelledError) as info:
            await asyncio.sleep(10)
        assert scope.exit(info.type, info.value) is True
        assert loop.time() == 2.0

    async def test_cancel_from_another_thread(self) -> None:
        """cancel() from a worker thread is delivered through the loop."""
        loop = asyncio.get_running_loop()
        scope = AsyncioScope(loop, None)
        start = loop.time()
        # No timer is pending, so the virtual loop really waits for the thread.
        worker = loop.run_in_executor(None, scope.cancel)
        with pytest.raises(asyncio.CancelledError) as info:
            await asyncio.Event().wait()
        assert scope.exit(info.type, info.value) is True
        await worker
        assert loop.time() == start
        assert _task().cancelling() == 0

    async def test_cancel_after_exit_is_ignored(self) -> None:
        """cancel() after exit does nothing."""
        loop = asyncio.get_running_loop()
        scope = AsyncioScope(loop, 1.0)
        assert scope.exit(None) is False
        scope.cancel()
        await asyncio.sleep(5)
        assert _task().cancelling() == 0

    async def test_deadline_fires_once(self) -> None:
        """The deadline's timer and a cancel() in the same region count once."""
        loop = asyncio.get_running_loop()
        scope = AsyncioScope(loop, 1.0)
        assert scope.deadline == loop.time() + 1.0
        with pytest.raises(asyncio.CancelledError) as info:
            await asyncio.sleep(10)
        scope.cancel()  # already cancelled by the deadline: no second request
        assert _task().cancelling() == 1
        assert scope.exit(info.type, info.value) is True
        assert _task().cancelling() == 0

    async def test_swallowed_cancellation_is_uncounted(self) -> None:
        """A region whose cancellation was swallowed still takes its count back."""
        loop = asyncio.get_running_loop()
        scope = AsyncioScope(loop, 1.0)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        assert _task().cancelling() == 1
        assert scope.exit(None) is False
        assert _task().cancelling() == 0
        await asyncio.sleep(0)

    async def test_outer_request_is_not_claimed(self) -> None:
        """A task.cancel() that arrives with the region's own keeps propagating."""
        loop = asyncio.get_running_loop()
        scope = AsyncioScope(loop, 1.0)
        task = _task()
        loop.call_at(scope.deadline, task.cancel)
        with pytest.raises(asyncio.CancelledError) as info:
            await asyncio.sleep(10)
        assert task.cancelling() == 2
        assert scope.exit(info.type, info.value) is False
        assert task.cancelling() == 1
        task.uncancel()  # let the test itself finish normally

    async def test_used_outside_a_task_raises(self) -> None:
        """A scope opened outside a task (in a loop callback) raises RuntimeError."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[BaseException] = loop.create_future()

        def callback() -> None:
            try:
                open_scope(1.0)
            except RuntimeError as exc:
                result.set_result(exc)

        loop.call_soon(callback)
        exc = await result
        assert "inside a task" in str(exc)
