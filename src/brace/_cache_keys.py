"""Cache keys for :func:`brace.cached`: arguments, namespaces, instances.

- The default key is the tuple of positional arguments, followed, when
  there are keyword arguments, by a marker and the ``(name, value)`` pairs
  in name order. ``f(1)`` and ``f(x=1)`` are two keys: binding arguments to
  the signature would cost more than most cache hits.
- Functions that share a cache must not share keys. The first function to
  store in a cache uses the bare key (the common case: a cache of its own);
  every other one prefixes its keys with a :class:`Namespace` of its own, an
  object no argument tuple can equal.
- Methods key by instance, by identity and weakly: each live instance has a
  token, and the instance's keys start with it. The token outlives neither
  the instance nor its id: one made for a later object at the same address
  is a different token, so no entry is ever served to the wrong instance.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["Instances", "Namespace", "make_key"]


class _KeywordsMark:
    """Separates positional arguments from keyword arguments in a key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<keywords>"


_KEYWORDS = _KeywordsMark()


def make_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The default key of a call."""
    if not kwargs:
        return args
    return (*args, _KEYWORDS, *sorted(kwargs.items()))


class Namespace:
    """Prefixes the keys of one function in a cache it shares."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<keys of {self.name}>"


class _Token:
    """Stands for one instance in keys; compares by identity."""

    __slots__ = ("__weakref__", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind} instance>"


class Instances:
    """The tokens of the live instances that a cached method has seen."""

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: dict[int, tuple[weakref.ref[Any], _Token]] = {}

    def token(self, obj: object) -> _Token:
        """The token of *obj*, made on first use."""
        tokens = self._tokens
        key = id(obj)
        entry = tokens.get(key)
        if entry is None or entry[0]() is not obj:
            try:
                ref = weakref.ref(obj, functools.partial(_forget, tokens, key))
            except TypeError:
                msg = (
                    "cached methods key their entries by instance, held weakly, "
                    f"and {type(obj).__qualname__} instances cannot be weakly "
                    "referenced: add '__weakref__' to its __slots__, or pass key="
                )
                raise TypeError(msg) from None
            kind = obj.__qualname__ if isinstance(obj, type) else type(obj).__qualname__
            entry = (ref, _Token(kind))
            tokens[key] = entry
        return entry[1]

    def __len__(self) -> int:
        return len(self._tokens)


def _forget(
    tokens: dict[int, tuple[weakref.ref[Any], _Token]],
    key: int,
    ref: weakref.ref[Any],
) -> None:
    # Called as the instance dies, before its id can be another object's.
    tokens.pop(key, None)


KeyFunction = Callable[..., Any]
