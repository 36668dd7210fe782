"""brace's pytest plugin: fixtures for suites that test code using brace.

Loaded through the ``pytest11`` entry point named ``brace``. It changes
nothing for a test that does not ask for it: there is no autouse fixture,
and the pytest-asyncio loop hook is registered only when the suite opts in
with ``--brace-virtual-time`` or the ``brace_virtual_time`` ini option.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import pytest

from . import testing

__all__ = [
    "brace_anyio_backend",
    "brace_chaos",
    "brace_events",
    "brace_instant",
    "brace_virtual_loop",
]

_BACKENDS = ("asyncio", "trio")
_BACKENDS_KEY = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The opt-in switches: virtual time for pytest-asyncio, anyio backends."""
    group = parser.getgroup("brace", "brace testing tools")
    group.addoption(
        "--brace-virtual-time",
        action="store_true",
        default=False,
        dest="brace_virtual_time",
        help="run every pytest-asyncio test on brace's virtual-time event loop",
    )
    parser.addini(
        "brace_virtual_time",
        type="bool",
        default=False,
        help="run every pytest-asyncio test on brace's virtual-time event loop",
    )
    parser.addini(
        "brace_anyio_backends",
        type="args",
        default=[],
        help=(
            "backends of the brace_anyio_backend fixture: asyncio and/or trio "
            "(default: asyncio, and trio when it is installed)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the options; register the loop hook only if the suite asks for it."""
    config.stash[_BACKENDS_KEY] = _anyio_backends(config)
    if not (
        config.getoption("brace_virtual_time") or config.getini("brace_virtual_time")
    ):
        return
    if not hasattr(config.hook, "pytest_asyncio_loop_factories"):
        msg = (
            "brace_virtual_time needs pytest-asyncio 1.4 or later (its "
            "pytest_asyncio_loop_factories hook); with older versions, return "
            "brace.testing.VirtualTimePolicy() from an event_loop_policy fixture"
        )
        raise pytest.UsageError(msg)
    config.pluginmanager.register(_VirtualTimeLoops(), "brace-virtual-time")


class _VirtualTimeLoops:
    """The loop-factory hook, as a separate plugin registered on request.

    Registering it unconditionally would change every suite that uses
    pytest-asyncio: once any implementation exists, pytest-asyncio insists
    on a factory from it.
    """

    @pytest.hookimpl(trylast=True)
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        return {"brace_virtual": testing.VirtualTimeEventLoop}


def _trio_installed() -> bool:
    return importlib.util.find_spec("trio") is not None


def _anyio_backends(config: pytest.Config) -> list[str]:
    names = cast("list[str]", config.getini("brace_anyio_backends"))
    if not names:
        return ["asyncio", "trio"] if _trio_installed() else ["asyncio"]
    for name in names:
        if name not in _BACKENDS:
            msg = f"brace_anyio_backends: unknown backend {name!r}; use asyncio, trio"
            raise pytest.UsageError(msg)
        if name == "trio" and not _trio_installed():
            msg = "brace_anyio_backends lists trio, which is not installed"
            raise pytest.UsageError(msg)
    return list(dict.fromkeys(names))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run tests that use brace_anyio_backend once per configured backend."""
    if "brace_anyio_backend" in metafunc.fixturenames:
        backends: list[str] = metafunc.config.stash[_BACKENDS_KEY]
        metafunc.parametrize("brace_anyio_backend", backends, indirect=True)


@pytest.fixture
def brace_anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """An anyio backend on a virtual clock, to return from ``anyio_backend``.

    asyncio runs on :class:`~brace.testing.VirtualTimeEventLoop`, trio on a
    fresh ``MockClock(autojump_threshold=0)``; tests that use it run once
    per backend of the ``brace_anyio_backends`` ini option. Wire it in with::

        @pytest.fixture
        def anyio_backend(brace_anyio_backend):
            return brace_anyio_backend
    """
    name = getattr(request, "param", "asyncio")
    if name == "trio":
        from trio.testing import MockClock

        return "trio", {"clock": MockClock(autojump_threshold=0)}
    return "asyncio", {"loop_factory": testing.VirtualTimeEventLoop}


@pytest.fixture
def brace_virtual_loop() -> Iterator[testing.VirtualTimeEventLoop]:
    """A fresh virtual-time asyncio loop for a synchronous test.

    Run coroutines with ``brace_virtual_loop.run_until_complete(...)``;
    tasks left over are cancelled and the loop is closed after the test.
    """
    with asyncio.Runner(loop_factory=testing.VirtualTimeEventLoop) as runner:
        yield cast("testing.VirtualTimeEventLoop", runner.get_loop())


@pytest.fixture
def brace_instant() -> Iterator[None]:
    """Every brace retry delay is zero during the test.

    The same as wrapping the test in :func:`brace.testing.instant`.
    """
    with testing.instant():
        yield


@pytest.fixture
def brace_events() -> Iterator[testing.EventLog]:
    """Every brace event emitted during the test, in an event log.

    The :class:`~brace.testing.EventLog` of :func:`brace.testing.capture_events`.
    """
    with testing.capture_events() as events:
        yield events


@pytest.fixture
def brace_chaos() -> Iterator[None]:
    """Every :class:`~brace.testing.Chaos` policy fires during the test."""
    with testing.enable_chaos():
        yield
