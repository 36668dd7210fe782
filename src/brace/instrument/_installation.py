"""The handle that every adapter's ``install()`` returns."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from brace._events import Subscription

__all__ = ["Installation"]


class Installation:
    """An installed adapter: :meth:`close` it, or use it as a context manager.

    Returned by the ``install()`` function of each adapter in
    :mod:`brace.instrument`. While it is active, the adapter receives every
    brace event in the process; closing it unsubscribes the adapter and
    releases what it set up (the Prometheus adapter unregisters its
    metrics).

    Attributes:
        adapter: Which adapter: ``"logging"``, ``"structlog"``,
            ``"prometheus"`` or ``"opentelemetry"``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_cleanup", "_subscription", "adapter")

    def __init__(
        self,
        adapter: str,
        subscription: Subscription,
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        self.adapter = adapter
        self._subscription = subscription
        self._cleanup = cleanup

    @property
    def active(self) -> bool:
        """Whether the adapter still receives events."""
        return self._subscription.active

    def close(self) -> None:
        """Uninstall the adapter. Idempotent."""
        self._subscription.unsubscribe()
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()

    def __enter__(self) -> Installation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "active" if self.active else "closed"
        return f"<Installation of brace.instrument.{self.adapter} ({state})>"
