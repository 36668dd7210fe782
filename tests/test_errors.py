"""The error tree, codes, messages, pickling and is_transient()."""

from __future__ import annotations

import asyncio
import builtins
import errno
import pickle
import sys
import types

import pytest

import brace
from brace import ErrorCode


def test_tree_matches_the_blueprint() -> None:
    """Each class sits where BLUEPRINT section 4 puts it."""
    assert issubclass(brace.BraceError, Exception)
    for cls in (
        brace.CircuitOpen,
        brace.LimiterFull,
        brace.RateLimited,
        brace.QueueFull,
    ):
        assert issubclass(cls, brace.RejectedError)
    assert issubclass(brace.RejectedError, brace.BraceError)
    assert issubclass(brace.TimeoutError, brace.BraceError)
    assert issubclass(brace.TimeoutError, builtins.TimeoutError)
    assert issubclass(brace.TimeoutError, asyncio.TimeoutError)
    for cls in (brace.Cancelled, brace.QueueClosed, brace.QueueEmpty, brace.RetryError):
        assert issubclass(cls, brace.BraceError)
        assert not issubclass(cls, brace.RejectedError)


ERRORS = [
    (brace.BraceError("x"), ErrorCode.ERROR),
    (brace.RejectedError("x"), ErrorCode.REJECTED),
    (brace.CircuitOpen("payments", retry_after=2.5), ErrorCode.CIRCUIT_OPEN),
    (brace.LimiterFull("db"), ErrorCode.LIMITER_FULL),
    (brace.LimiterFull(), ErrorCode.LIMITER_FULL),
    (brace.RateLimited(retry_after=0.25), ErrorCode.RATE_LIMITED),
    (brace.QueueFull(maxsize=10), ErrorCode.QUEUE_FULL),
    (brace.TimeoutError(timeout=1.5, name="fetch"), ErrorCode.TIMEOUT),
    (brace.Cancelled("shutdown"), ErrorCode.CANCELLED),
    (brace.Cancelled(), ErrorCode.CANCELLED),
    (brace.QueueClosed(), ErrorCode.QUEUE_CLOSED),
    (brace.QueueEmpty(), ErrorCode.QUEUE_EMPTY),
    (
        brace.RetryError(attempts=3, last_result=None, name="poll"),
        ErrorCode.RETRY_ERROR,
    ),
]


@pytest.mark.parametrize(("error", "code"), ERRORS)
def test_codes_are_stable_strings(error: brace.BraceError, code: ErrorCode) -> None:
    """Every error carries its stable code, usable as a plain string."""
    assert error.code is code
    assert isinstance(error.code, str)
    assert str(error)


@pytest.mark.parametrize(("error", "code"), ERRORS)
def test_errors_pickle_with_their_attributes(
    error: brace.BraceError, code: ErrorCode
) -> None:
    """Errors survive pickling (multiprocessing, task queues) intact."""
    clone = pickle.loads(pickle.dumps(error))  # noqa: S301
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert vars(clone) == vars(error)


def test_code_values_never_change() -> None:
    """The values are part of the API: pin them."""
    assert {c.name: c.value for c in ErrorCode} == {
        "ERROR": "brace_error",
        "REJECTED": "rejected",
        "CIRCUIT_OPEN": "circuit_open",
        "LIMITER_FULL": "limiter_full",
        "RATE_LIMITED": "rate_limited",
        "QUEUE_FULL": "queue_full",
        "TIMEOUT": "timeout",
        "CANCELLED": "cancelled",
        "QUEUE_CLOSED": "queue_closed",
        "QUEUE_EMPTY": "queue_empty",
        "RETRY_ERROR": "retry_error",
    }


def test_messages_say_what_to_do() -> None:
    """Messages name the situation and a way forward."""
    assert "probe" in str(brace.CircuitOpen("p", retry_after=1))
    assert "retry later" in str(brace.LimiterFull())
    assert "raise the timeout" in str(brace.TimeoutError(timeout=2))
    assert "shutdown" in str(brace.Cancelled("shutdown"))
    assert brace.CircuitOpen("p", retry_after=1).retry_after == 1


def test_circuit_open_message_is_built_when_read() -> None:
    """CircuitOpen formats lazily; an isolated breaker says reset(), not "inf s"."""
    exc = brace.CircuitOpen("payments", retry_after=1.25)
    assert exc.args == ("payments",)
    assert str(exc) == (
        "circuit 'payments' is open: the call was not made; "
        "a probe is allowed in 1.250 s"
    )
    isolated = str(brace.CircuitOpen("payments", retry_after=float("inf")))
    assert "isolated" in isolated
    assert "reset()" in isolated
    assert "inf" not in isolated


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionResetError(), True),
        (builtins.TimeoutError(), True),
        (brace.TimeoutError(timeout=1), True),
        (brace.LimiterFull(), True),
        (OSError(errno.ECONNREFUSED, "refused"), True),
        (OSError(errno.EAGAIN, "again"), True),
        (FileNotFoundError(errno.ENOENT, "missing"), False),
        (OSError(), False),
        (ValueError(), False),
        (brace.Cancelled(), False),
        (asyncio.CancelledError(), False),
        (KeyboardInterrupt(), False),
        (ExceptionGroup("g", [ConnectionError(), builtins.TimeoutError()]), True),
        (ExceptionGroup("g", [ConnectionError(), ValueError()]), False),
        (BaseExceptionGroup("g", [ConnectionError(), KeyboardInterrupt()]), False),
    ],
)
def test_is_transient(exc: BaseException, expected: bool) -> None:
    """Network, timeout and rejection errors are transient; others are not."""
    assert brace.is_transient(exc) is expected


def test_is_transient_understands_httpx_when_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx transport errors and 429/502/503/504 responses are transient."""

    class TransportError(Exception):
        pass

    class HTTPStatusError(Exception):
        def __init__(self, status: int) -> None:
            self.response = types.SimpleNamespace(status_code=status)

    fake = types.ModuleType("httpx")
    fake.TransportError = TransportError  # type: ignore[attr-defined]
    fake.HTTPStatusError = HTTPStatusError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "httpx", fake)
    assert brace.is_transient(TransportError())
    assert brace.is_transient(HTTPStatusError(503))
    assert brace.is_transient(HTTPStatusError(429))
    assert not brace.is_transient(HTTPStatusError(404))
    assert not brace.is_transient(KeyError())
