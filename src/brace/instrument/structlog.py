"""Log brace's events as structlog events.

Needs structlog: ``pip install "brace[structlog]"``. See
:doc:`/howto/observability`.

.. versionadded:: 0.1
"""

from ._structlog import install

__all__ = ["install"]
