"""Shared fixtures: every backend-neutral test runs on asyncio and on trio,
both on virtual clocks, so timing assertions are exact and nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import trio.testing

from brace import testing as brace_testing


@pytest.fixture(
    params=[
        pytest.param(
            ("asyncio", {"loop_factory": brace_testing.VirtualTimeEventLoop}),
            id="asyncio",
        ),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """asyncio on brace's virtual-time loop; trio on an autojumping MockClock."""
    name, options = request.param
    if name == "trio":
        # A fresh clock per test: MockClock keeps state.
        return name, {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return name, dict(options)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Any]:
    """pytest-asyncio tests run on the virtual-time loop too."""
    return {"virtual": brace_testing.VirtualTimeEventLoop}


@pytest.fixture(autouse=True)
def _no_leaked_subscriptions() -> Iterator[None]:
    """A test that subscribes globally must unsubscribe."""
    from brace import _events

    before = list(_events._subscribers)
    yield
    leaked = [s for s in _events._subscribers if s not in before]
    _events._subscribers[:] = before
    assert not leaked, f"test leaked event subscriptions: {leaked}"
