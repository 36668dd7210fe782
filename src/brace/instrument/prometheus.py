"""Count brace's events in Prometheus metrics, through prometheus_client.

Needs prometheus_client: ``pip install "brace[prometheus]"``. See
:doc:`/howto/observability`.

.. versionadded:: 0.1
"""

from ._prometheus import CIRCUIT_STATE_VALUES, install

__all__ = ["CIRCUIT_STATE_VALUES", "install"]
