"""Parsing server retry hints (``Retry-After`` headers)."""

from __future__ import annotations

import datetime as dt
import math
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]


def parse_retry_after(
    value: str | bytes | float | None, *, now: dt.datetime | None = None
) -> float | None:
    """Turn a ``Retry-After`` header value into seconds to wait.

    Accepts delay-seconds (``"120"``, also fractional) and HTTP-dates
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``). A date in the past gives ``0.0``:
    the server is ready now. Use it in ``Retry(retry_after=...)``::

        Retry(on=HTTPError, retry_after=lambda exc: parse_retry_after(
            exc.response.headers.get("Retry-After")))

    Args:
        value: The header value; ``None`` or an empty value gives ``None``.
        now: The current wall-clock time, for HTTP-dates; defaults to now in
            UTC. (HTTP-dates are absolute wall-clock times, the one place
            where brace reads the wall clock.)

    Returns:
        Seconds to wait (>= 0), or ``None`` when the value is missing or
        cannot be parsed (the caller then falls back to its backoff).

    .. versionadded:: 0.1
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, int | float):
        return max(0.0, float(value)) if math.isfinite(value) else None
    text = value.strip()
    if not text:
        return None
    try:
        delay = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, delay) if math.isfinite(delay) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; a naive result means "-0000".
        when = when.replace(tzinfo=dt.UTC)
    current = now if now is not None else dt.datetime.now(dt.UTC)
    if current.tzinfo is None:
        current = current.replace(tzinfo=dt.UTC)
    return max(0.0, (when - current).total_seconds())
