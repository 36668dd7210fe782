"""OpenTelemetry metrics and span events from brace's events; spans per call.

Needs the OpenTelemetry API: ``pip install "brace[opentelemetry]"`` (and,
to export anything, the SDK and an exporter). See
:doc:`/howto/observability`.

.. versionadded:: 0.1
"""

from ._opentelemetry import CIRCUIT_STATE_VALUES, Tracing, install

__all__ = ["CIRCUIT_STATE_VALUES", "Tracing", "install"]
