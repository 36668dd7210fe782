"""Adapters that report brace's events to logging and metrics systems.

Each adapter is a module with an ``install()`` function that subscribes to
every brace event in the process and returns an :class:`Installation`;
close it (or use it as a context manager) to stop:

- :mod:`brace.instrument.logging`: standard library :mod:`logging`;
- :mod:`brace.instrument.structlog`: structlog (``brace[structlog]``);
- :mod:`brace.instrument.prometheus`: Prometheus metrics through
  prometheus_client (``brace[prometheus]``);
- :mod:`brace.instrument.opentelemetry`: OpenTelemetry metrics and span
  events, and the :class:`~brace.instrument.opentelemetry.Tracing` policy
  for spans (``brace[opentelemetry]``).

The adapters are imported on first use, so ``import brace.instrument``
works without any of those libraries; importing an adapter whose library is
missing raises an :class:`ImportError` that names the extra to install::

    import brace.instrument.prometheus

    brace.instrument.prometheus.install()

.. versionadded:: 0.1
"""

from __future__ import annotations

import importlib as _importlib
from types import ModuleType as _ModuleType
from typing import TYPE_CHECKING

from ._installation import Installation
from ._severity import default_level

# The adapters are imported when first used (module __getattr__ below), so
# that their libraries stay optional; type checkers see them as attributes.
if TYPE_CHECKING:
    from . import logging, opentelemetry, prometheus, structlog

__all__ = [
    "Installation",
    "default_level",
    "logging",
    "opentelemetry",
    "prometheus",
    "structlog",
]

_ADAPTERS = frozenset({"logging", "opentelemetry", "prometheus", "structlog"})

# Hidden from type checkers, which would otherwise accept any attribute name.
if not TYPE_CHECKING:  # pragma: no branch

    def __getattr__(name: str) -> _ModuleType:
        if name not in _ADAPTERS:
            msg = f"module {__name__!r} has no attribute {name!r}"
            raise AttributeError(msg)
        # Importing the submodule also binds it as an attribute of this package.
        return _importlib.import_module(f"{__name__}.{name}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
