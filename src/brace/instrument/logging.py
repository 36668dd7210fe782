"""Log brace's events with the standard library's :mod:`logging`.

Needs nothing beyond the standard library. See :doc:`/howto/observability`.

.. versionadded:: 0.1
"""

from ._logging import install

__all__ = ["install"]
