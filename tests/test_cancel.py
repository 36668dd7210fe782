"""Tests for brace.CancelToken: reasons, callbacks, waiting, scopes and links."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import brace
from brace import _cancel

pytestmark = pytest.mark.anyio


def _elapsed_since(start: float) -> float:
    return anyio.current_time() - start


async def _cancel_later(token: brace.CancelToken, delay: float, reason: object) -> None:
    await anyio.sleep(delay)
    token.cancel(reason)


# -- the flag, reasons and callbacks (no loop needed) ---------------------------


class TestFlag:
    """The synchronous API works without an event loop."""

    def test_first_reason_wins(self) -> None:
        """cancel() returns True once, then False, and keeps the first reason."""
        tok = brace.CancelToken()
        assert (tok.cancelled, tok.reason) == (False, None)
        assert tok.cancel("first") is True
        assert tok.cancel("second") is False
        assert tok.cancelled
        assert tok.reason == "first"

    def test_cancel_without_reason(self) -> None:
        """A token cancelled without a reason has reason None."""
        tok = brace.CancelToken()
        assert tok.cancel() is True
        assert tok.cancelled
        assert tok.reason is None

    def test_repr(self) -> None:
        """repr shows the name and the state."""
        assert repr(brace.CancelToken()) == "<CancelToken active>"
        tok = brace.CancelToken(name="jobs")
        assert repr(tok) == "<CancelToken 'jobs' active>"
        tok.cancel("stop")
        assert repr(tok) == "<CancelToken 'jobs' cancelled, reason='stop'>"

    def test_raise_if_cancelled(self) -> None:
        """raise_if_cancelled is silent while active, then raises Cancelled(reason)."""
        tok = brace.CancelToken()
        tok.raise_if_cancelled()
        tok.cancel("shutdown")
        with pytest.raises(brace.Cancelled) as info:
            tok.raise_if_cancelled()
        err = info.value
        assert err.reason == "shutdown"
        assert err.code is brace.ErrorCode.CANCELLED
        assert isinstance(err, brace.BraceError)
        assert "shutdown" in str(err)

    def test_callbacks_run_in_order_with_reason(self) -> None:
        """on_cancel callbacks run once, in registration order, with the reason."""
        tok = brace.CancelToken()
        calls: list[tuple[str, object]] = []
        tok.on_cancel(lambda r: calls.append(("a", r)))
        tok.on_cancel(lambda r: calls.append(("b", r)))
        assert calls == []
        tok.cancel("why")
        tok.cancel("again")
        assert calls == [("a", "why"), ("b", "why")]

    def test_callback_on_cancelled_token_runs_at_once(self) -> None:
        """on_cancel on a cancelled token runs the callback immediately."""
        tok = brace.CancelToken()
        tok.cancel(42)
        calls: list[object] = []
        handle = tok.on_cancel(calls.append)
        assert calls == [42]
        assert handle.remove() is False

    def test_remove_unregisters(self) -> None:
        """handle.remove() unregisters the callback; a second remove is a no-op."""
        tok = brace.CancelToken()
        calls: list[object] = []
        handle = tok.on_cancel(calls.append)
        keep = tok.on_cancel(lambda r: calls.append(("kept", r)))
        assert isinstance(handle, brace.CallbackHandle)
        assert handle.remove() is True
        assert handle.remove() is False
        tok.cancel("x")
        assert calls == [("kept", "x")]
        assert keep.remove() is False  # already ran

    def test_callback_removing_a_later_one_during_cancel(self) -> None:
        """A callback removing a later handle during cancel() cannot stop it."""
        tok = brace.CancelToken()
        calls: list[str] = []
        handles: list[brace.CallbackHandle] = []
        tok.on_cancel(lambda _: calls.append(f"removed={handles[0].remove()}"))
        handles.append(tok.on_cancel(lambda _: calls.append("second")))
        tok.cancel()
        assert calls == ["removed=False", "second"]

    def test_callback_exception_is_logged_and_others_run(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failing callback is logged on 'brace' and does not stop the others."""
        tok = brace.CancelToken()
        calls: list[object] = []

        def broken(_: object) -> None:
            raise RuntimeError("callback bug")

        tok.on_cancel(broken)
        tok.on_cancel(calls.append)
        with caplog.at_level(logging.ERROR, logger="brace"):
            assert tok.cancel("r") is True
        assert calls == ["r"]
        assert "callback bug" in caplog.text
        assert any(rec.name == "brace" for rec in caplog.records)

    def test_remove_racing_with_cancel_reports_the_callback_ran(self) -> None:
        """remove() racing a cancel() in another thread sees the callback as run."""
        tok = brace.CancelToken()
        calls: list[object] = []
        handle = tok.on_cancel(calls.append)
        tok.on_cancel(calls.append)

        class CancelFirstLock:
            """Lets a cancel() win the lock just before remove() takes it."""

            def __init__(self) -> None:
                self.lock = threading.Lock()
                self.hook: Callable[[], object] | None = lambda: tok.cancel("r")

            def __enter__(self) -> bool:
                hook, self.hook = self.hook, None
                if hook is not None:
                    hook()
                return self.lock.__enter__()

            def __exit__(self, *exc: Any) -> None:
                self.lock.__exit__(*exc)

        tok._lock = CancelFirstLock()  # type: ignore[assignment]
        # The callback already ran: remove() must not claim it had not.
        assert handle.remove() is False
        assert calls == ["r", "r"]

    def test_token_cancelled_events(self) -> None:
        """cancel() emits one TokenCancelled to global subscribers."""
        seen: list[brace.Event] = []
        with brace.subscribe(seen.append, brace.TokenCancelled):
            brace.CancelToken(name="jobs").cancel("stop")
            anonymous = brace.CancelToken()
            anonymous.cancel()
            anonymous.cancel("again")
        assert seen == [
            brace.TokenCancelled(name="jobs", reason="stop"),
            brace.TokenCancelled(name="<token>", reason=None),
        ]

    def test_after_outside_event_loop_raises(self) -> None:
        """CancelToken.after needs a running loop: RuntimeError otherwise."""
        with pytest.raises(RuntimeError):
            brace.CancelToken.after(1)

    def test_after_outside_event_loop_without_trio(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without trio installed, after() outside a loop still raises RuntimeError."""
        monkeypatch.setitem(sys.modules, "trio", None)
        with pytest.raises(RuntimeError):
            brace.CancelToken.after(1)

    @pytest.mark.parametrize("delay", [-1, float("nan"), "1"])
    def test_after_rejects_bad_delay(self, delay: Any) -> None:
        """A nonsense delay is rejected before anything is scheduled."""
        with pytest.raises((TypeError, ValueError)):
            brace.CancelToken.after(delay)


# -- waiting -------------------------------------------------------------------


async def test_wait_returns_reason() -> None:
    """wait() blocks until another task cancels, then returns the reason."""
    tok = brace.CancelToken()
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_cancel_later, tok, 2, "done")
        assert await tok.wait() == "done"
    assert _elapsed_since(start) == 2.0
    assert tok._callbacks is None


async def test_wait_on_cancelled_token_returns_at_once() -> None:
    """wait() on a cancelled token returns the reason without waiting."""
    tok = brace.CancelToken()
    tok.cancel("early")
    start = anyio.current_time()
    assert await tok.wait() == "early"
    assert _elapsed_since(start) == 0


async def test_many_waiters_all_woken() -> None:
    """Every waiter is woken by one cancel() and gets the same reason."""
    tok = brace.CancelToken()
    reasons: list[object] = []

    async def waiter() -> None:
        reasons.append(await tok.wait())

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(waiter)
        await anyio.sleep(1)
        assert len(tok._callbacks or ()) == 10
        tok.cancel("go")
    assert reasons == ["go"] * 10


async def test_waiter_cancelled_by_move_on_after_leaves_nothing() -> None:
    """A waiter cancelled while waiting leaves no callback on the token."""
    tok = brace.CancelToken()
    start = anyio.current_time()
    with anyio.move_on_after(1) as scope:
        await tok.wait()
    assert scope.cancelled_caught
    assert _elapsed_since(start) == 1.0
    assert tok._callbacks == []


async def test_waiters_cancelled_by_task_group_leave_nothing() -> None:
    """Cancelling a task group of waiters leaves no callback on the token."""
    tok = brace.CancelToken()
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(tok.wait)
        await anyio.sleep(1)
        assert len(tok._callbacks or ()) == 5
        tg.cancel_scope.cancel()
    assert tok._callbacks == []
    assert not tok.cancelled


async def test_wait_under_brace_timeout() -> None:
    """A brace Timeout around wait() raises TimeoutError and cleans up."""
    tok = brace.CancelToken()
    with pytest.raises(brace.TimeoutError):
        await brace.Timeout(3).call(tok.wait)
    assert tok._callbacks == []


# -- scope ---------------------------------------------------------------------


async def test_scope_interrupts_at_next_await() -> None:
    """Cancelling the token interrupts the block and raises Cancelled at exit."""
    tok = brace.CancelToken()
    start = anyio.current_time()
    after_sleep: list[bool] = []

    async def block() -> None:
        with tok.scope():
            await anyio.sleep(10)
            after_sleep.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(_cancel_later, tok, 1.5, "stop")
        with pytest.raises(brace.Cancelled) as info:
            await block()
    assert after_sleep == []
    assert info.value.reason == "stop"
    assert isinstance(info.value.__cause__, anyio.get_cancelled_exc_class())
    assert _elapsed_since(start) == 1.5
    assert tok._callbacks is None
    await anyio.sleep(1)  # no cancellation left over


async def test_scope_with_cancelled_token_raises_at_once() -> None:
    """Entering scope() with a cancelled token raises before the block runs."""
    tok = brace.CancelToken()
    tok.cancel("already")
    ran: list[bool] = []
    with pytest.raises(brace.Cancelled) as info, tok.scope():
        ran.append(True)  # pragma: no cover - never entered
    assert ran == []
    assert info.value.reason == "already"


async def test_scope_finishing_normally_leaves_nothing() -> None:
    """A block that finishes normally leaves nothing registered on the token."""
    tok = brace.CancelToken()
    with tok.scope():
        assert tok._callbacks is not None
        assert len(tok._callbacks) == 1
        await anyio.sleep(1)
    assert tok._callbacks == []
    tok.cancel("later")  # does not reach the finished block
    await anyio.sleep(1)


async def test_scope_user_exception_passes_through() -> None:
    """An exception raised in the block propagates and unregisters the callback."""
    tok = brace.CancelToken()

    async def block() -> None:
        with tok.scope():
            await anyio.sleep(1)
            raise KeyError("k")

    with pytest.raises(KeyError):
        await block()
    assert tok._callbacks == []


async def test_scope_outer_cancellation_passes_through() -> None:
    """An enclosing move_on_after cancels the block as cancellation, not Cancelled."""
    tok = brace.CancelToken()
    start = anyio.current_time()
    with anyio.move_on_after(2) as outer:
        with tok.scope():
            await anyio.sleep(10)
    assert outer.cancelled_caught
    assert _elapsed_since(start) == 2.0
    assert tok._callbacks == []


async def test_scope_self_cancel_without_await_completes() -> None:
    """A block that cancels its own token but never awaits again completes."""
    tok = brace.CancelToken()
    with tok.scope():
        tok.cancel("self")
    assert tok.cancelled
    start = anyio.current_time()
    await anyio.sleep(1)  # no stray cancellation left in the task
    assert _elapsed_since(start) == 1.0


async def test_scope_self_cancel_then_await() -> None:
    """A block that cancels its own token is interrupted at its next await."""
    tok = brace.CancelToken()
    start = anyio.current_time()

    async def block() -> None:
        with tok.scope():
            tok.cancel("self")
            await anyio.sleep(5)

    with pytest.raises(brace.Cancelled) as info:
        await block()
    assert info.value.reason == "self"
    assert _elapsed_since(start) == 0


async def test_scope_inside_timeout_timeout_reports() -> None:
    """A Timeout expiring around a token scope reports TimeoutError."""
    tok = brace.CancelToken()

    async def block() -> None:
        async with brace.Timeout(1):
            with tok.scope():
                await anyio.sleep(5)

    with pytest.raises(brace.TimeoutError):
        await block()
    assert tok._callbacks == []


async def test_timeout_inside_scope_token_reports() -> None:
    """A token cancelled around a Timeout reports Cancelled, not TimeoutError."""
    tok = brace.CancelToken.after(1, reason="r")
    with pytest.raises(brace.Cancelled) as info, tok.scope():
        await brace.Timeout(5).call(anyio.sleep, 10)
    assert info.value.reason == "r"


async def test_scope_in_task_group_children() -> None:
    """Every child task's scope is interrupted by one cancel()."""
    tok = brace.CancelToken()
    outcomes: list[object] = []

    async def child() -> None:
        try:
            with tok.scope():
                await anyio.sleep(10)
        except brace.Cancelled as exc:
            outcomes.append(exc.reason)

    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(child)
        tg.start_soon(_cancel_later, tok, 3, "bye")
    assert outcomes == ["bye"] * 4
    assert _elapsed_since(start) == 3.0


# -- after ---------------------------------------------------------------------


async def test_after_cancels_at_exact_time() -> None:
    """CancelToken.after(s) cancels itself exactly s seconds later."""
    start = anyio.current_time()
    tok = brace.CancelToken.after(2.5, name="deadline")
    assert tok.name == "deadline"
    assert not tok.cancelled
    reason = await tok.wait()
    assert _elapsed_since(start) == 2.5
    assert reason == "deadline of 2.5 s passed"
    assert tok.reason == reason


async def test_after_custom_reason_and_timedelta() -> None:
    """after() takes a timedelta and a custom reason."""
    start = anyio.current_time()
    tok = brace.CancelToken.after(dt.timedelta(seconds=4), reason="too slow")
    await anyio.sleep(3.5)
    assert not tok.cancelled
    assert await tok.wait() == "too slow"
    assert _elapsed_since(start) == 4.0


async def test_after_cancelled_early_keeps_early_reason() -> None:
    """A token from after() cancelled early keeps that reason; the timer is void."""
    seen: list[brace.Event] = []
    with brace.subscribe(seen.append, brace.TokenCancelled):
        tok = brace.CancelToken.after(5)
        await anyio.sleep(1)
        tok.cancel("early")
        await anyio.sleep(10)
    assert tok.reason == "early"
    assert seen == [brace.TokenCancelled(name="<token>", reason="early")]


async def test_after_cancelled_before_timer_starts() -> None:
    """A token from after() cancelled at once never fires its timer."""
    tok = brace.CancelToken.after(5)
    tok.cancel("now")
    await anyio.sleep(10)
    assert tok.reason == "now"


async def test_after_zero() -> None:
    """after(0) cancels on the next loop turn."""
    tok = brace.CancelToken.after(0)
    start = anyio.current_time()
    assert await tok.wait() == "deadline of 0 s passed"
    assert _elapsed_since(start) == 0


# -- any -----------------------------------------------------------------------


async def test_any_cancelled_with_parent_reason() -> None:
    """CancelToken.any is cancelled when any parent is, with that parent's reason."""
    a, b = brace.CancelToken(), brace.CancelToken()
    child = brace.CancelToken.any(a, b, name="child")
    assert child.name == "child"
    assert not child.cancelled
    async with anyio.create_task_group() as tg:
        tg.start_soon(_cancel_later, b, 2, "b stopped")
        assert await child.wait() == "b stopped"
    assert not a.cancelled
    # The child no longer listens to the other parent.
    assert a._callbacks == []
    a.cancel("a later")
    assert child.reason == "b stopped"


async def test_any_with_cancelled_parent_is_cancelled_at_once() -> None:
    """A parent already cancelled makes the child cancelled at once."""
    a, b, c = brace.CancelToken(), brace.CancelToken(), brace.CancelToken()
    b.cancel("b was first")
    child = brace.CancelToken.any(a, b, c)
    assert child.cancelled
    assert child.reason == "b was first"
    assert a._callbacks == []
    assert c._callbacks == []


async def test_any_child_cancelled_directly_unlinks() -> None:
    """Cancelling the child itself unregisters it from its parents."""
    a, b = brace.CancelToken(), brace.CancelToken()
    child = brace.CancelToken.any(a, b)
    assert len(a._callbacks or ()) == 1
    child.cancel("own")
    assert a._callbacks == []
    assert b._callbacks == []
    a.cancel("parent")
    assert child.reason == "own"


def test_any_without_parents_is_never_cancelled() -> None:
    """any() of no parents is a plain, active token."""
    assert not brace.CancelToken.any().cancelled


def test_any_garbage_collected_child_unlinks() -> None:
    """A child that is garbage collected removes its callbacks from the parents."""
    a, b = brace.CancelToken(), brace.CancelToken()
    child = brace.CancelToken.any(a, b)
    assert len(a._callbacks or ()) == 1
    assert len(b._callbacks or ()) == 1
    del child
    gc.collect()
    assert a._callbacks == []
    assert b._callbacks == []
    assert a.cancel("after gc") is True


def test_any_child_collected_while_parent_cancels(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A child collected in the middle of its parent's cancel() is skipped quietly."""
    parent = brace.CancelToken()
    holder: list[brace.CancelToken] = []

    def drop_child(_: object) -> None:
        holder.clear()
        gc.collect()

    parent.on_cancel(drop_child)  # runs before the link to the child
    holder.append(brace.CancelToken.any(parent))
    ref = weakref.ref(holder[0])
    with caplog.at_level(logging.ERROR, logger="brace"):
        assert parent.cancel("p") is True
    assert ref() is None
    assert caplog.records == []


def test_any_links_are_transitive() -> None:
    """A child of a child follows the grandparent."""
    root = brace.CancelToken()
    mid = brace.CancelToken.any(root)
    leaf = brace.CancelToken.any(mid)
    root.cancel("root")
    assert mid.reason == "root"
    assert leaf.reason == "root"


# -- asyncio specifics -----------------------------------------------------------


@pytest.mark.asyncio
class TestAsyncio:
    """Cancellation of waiters through asyncio's own tools, and threads."""

    async def test_wait_cancelled_by_task_cancel_leaves_nothing(self) -> None:
        """task.cancel() on a waiter leaves no callback on the token."""
        tok = brace.CancelToken()
        waiter = asyncio.create_task(tok.wait())
        await asyncio.sleep(1)
        assert len(tok._callbacks or ()) == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert tok._callbacks == []

    async def test_wait_under_wait_for_and_timeout(self) -> None:
        """asyncio.wait_for and asyncio.timeout around wait() clean up."""
        loop = asyncio.get_running_loop()
        tok = brace.CancelToken()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(tok.wait(), 1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await tok.wait()
        assert loop.time() - start == 2.0
        assert tok._callbacks == []

    async def test_waiter_cancelled_and_token_cancelled_together(self) -> None:
        """A waiter cancelled in the same step as the token stays cancelled."""
        tok = brace.CancelToken()
        waiter = asyncio.create_task(tok.wait())
        await asyncio.sleep(0)
        waiter.cancel()
        tok.cancel("both")  # the waiter's future is already cancelled
        with pytest.raises(asyncio.CancelledError):
            await waiter

    async def test_cancel_from_thread_wakes_waiter(self) -> None:
        """cancel() in a worker thread wakes a waiter on the loop."""
        loop = asyncio.get_running_loop()
        tok = brace.CancelToken()
        waiter = asyncio.create_task(tok.wait())
        await asyncio.sleep(0)
        assert await loop.run_in_executor(None, tok.cancel, "from thread") is True
        assert await waiter == "from thread"
        assert tok._callbacks is None

    async def test_cancel_from_thread_after_waiter_cancelled(self) -> None:
        """A thread's wake-up that finds the waiter already cancelled is dropped."""
        loop = asyncio.get_running_loop()
        tok = brace.CancelToken()
        waiter = asyncio.create_task(tok.wait())
        await asyncio.sleep(0)

        def in_thread() -> None:
            # Queued before the wake-up that cancel() queues.
            loop.call_soon_threadsafe(waiter.cancel)
            tok.cancel("late")

        await loop.run_in_executor(None, in_thread)
        with pytest.raises(asyncio.CancelledError):
            await waiter

    async def test_scope_cancelled_from_thread(self) -> None:
        """cancel() in a worker thread interrupts a scope on the loop."""
        loop = asyncio.get_running_loop()
        tok = brace.CancelToken()
        workers: list[asyncio.Future[bool]] = []

        async def block() -> None:
            with tok.scope():
                # Started inside the block, so the scope is surely registered.
                workers.append(loop.run_in_executor(None, tok.cancel, "thread"))
                await asyncio.Event().wait()

        with pytest.raises(brace.Cancelled) as info:
            await block()
        assert info.value.reason == "thread"
        assert await workers[0] is True
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0

    async def test_scope_task_cancel_passes_through(self) -> None:
        """task.cancel() on a task inside scope() propagates as CancelledError."""
        tok = brace.CancelToken()

        async def body() -> None:
            with tok.scope():
                await asyncio.sleep(10)

        task = asyncio.create_task(body())
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert tok._callbacks == []

    async def test_scope_swallowed_cancellation_leaves_no_count(self) -> None:
        """A block that swallows the token's cancellation completes, count restored."""
        tok = brace.CancelToken()
        loop = asyncio.get_running_loop()
        loop.call_later(1, tok.cancel, "x")
        with tok.scope(), contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(5)
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0
        await asyncio.sleep(0)

    async def test_after_timer_is_cancelled_with_token(self) -> None:
        """A token from after() cancelled early cancels its loop timer."""
        loop = asyncio.get_running_loop()

        def live_timers() -> int:
            return sum(not h.cancelled() for h in loop._scheduled)  # type: ignore[attr-defined]

        before = live_timers()
        tok = brace.CancelToken.after(100)
        assert live_timers() == before + 1
        tok.cancel()
        assert live_timers() == before


class TestTrio:
    """The trio implementation of after()."""

    @pytest.fixture
    def anyio_backend(self) -> tuple[str, dict[str, Any]]:
        """Trio only, on an autojumping mock clock."""
        import trio.testing

        return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}

    async def test_after_system_task_ends_when_cancelled(self) -> None:
        """On trio, cancelling a token from after() ends its timer task."""
        import trio
        import trio.testing

        def living() -> int:
            return trio.lowlevel.current_statistics().tasks_living

        before = living()
        tok = brace.CancelToken.after(100)
        await trio.sleep(1)
        assert living() == before + 1
        tok.cancel("early")
        await trio.testing.wait_all_tasks_blocked()
        assert living() == before
        assert tok.reason == "early"


def test_module_exports() -> None:
    """The module's public names are the ones brace re-exports."""
    assert _cancel.CancelToken is brace.CancelToken
    assert _cancel.CallbackHandle is brace.CallbackHandle
