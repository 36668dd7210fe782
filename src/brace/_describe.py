"""How policies show their options in ``describe()``.

``describe()`` returns ``(kind, options)`` for users' tests and for
:func:`brace.compose`'s order checks. Options hold plain values that compare
and print well: numbers and strings as they are, callables (exception types,
predicates, listeners) by qualified name, other objects by ``repr``.
"""

from __future__ import annotations

__all__ = ["shown"]

_PLAIN = (bool, int, float, str)


def shown(value: object) -> object:
    """*value* as ``describe()`` reports it (see the module docstring)."""
    if value is None or isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple | list):
        return tuple(shown(item) for item in value)
    if callable(value):
        name = getattr(value, "__qualname__", None)
        if isinstance(name, str):
            return name
    return repr(value)
