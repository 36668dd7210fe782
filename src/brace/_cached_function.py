"""The functions that :func:`brace.cached` returns, and their hit path."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import types
from collections.abc import Callable
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeVar,
    overload,
)

from ._cache import _INF
from ._cache_keys import Instances, Namespace, make_key

if TYPE_CHECKING:
    from ._cache import BoundedCache
    from ._cached import Cached, CacheInfo

__all__ = ["CachedClassMethod", "CachedFunction", "CachedStaticMethod"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
T = TypeVar("T")
S = TypeVar("S")

_UNBOUND: Any = object()

# Let ``asyncio.iscoroutinefunction`` (and, on 3.12+, ``inspect``) see the
# decorated functions as the async functions they are.
_mark_coroutine = getattr(inspect, "markcoroutinefunction", None)
_asyncio_marker = getattr(asyncio.coroutines, "_is_coroutine", None)


def _name_of(fn: object) -> str:
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else repr(fn)


class CachedFunction(Generic[P, T]):
    """An ``async def`` function whose results are cached; made by
    :func:`cached`.

    Call it like the function. On a method, each instance has its own
    entries (see :class:`Cached`); calls through the class
    (``Service.load(service, 1)``) use the same entries as calls through
    the instance.

    .. versionadded:: 0.1
    """

    # The wrapped function's metadata (``__name__``, ``__doc__``...) lives in
    # ``__dict__``, which the bound copies share: binding costs no dict copy.
    __name__: str
    __qualname__: str

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_bound",
        "_cache",
        "_data",
        "_fn",
        "_instances",
        "_key",
        "_method",
        "_name",
        "_namespace",
        "_policy",
        "_simple",
        "_touch",
    )

    def __init__(
        self, policy: Cached, fn: Callable[..., Any], namespace: Namespace | None
    ) -> None:
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            with contextlib.suppress(AttributeError):
                setattr(self, name, getattr(fn, name))
        self.__dict__.update(getattr(fn, "__dict__", {}))
        self.__dict__.pop("__wrapped__", None)
        if _mark_coroutine is not None:  # pragma: no cover - Python 3.12+
            _mark_coroutine(self)
        if _asyncio_marker is not None:  # pragma: no branch - gone in 3.14
            self.__dict__["_is_coroutine"] = _asyncio_marker
        self._policy = policy
        cache = policy._cache
        self._cache = cache
        self._data = cache._data
        self._touch = cache._data.move_to_end
        self._fn = fn
        self._name = _name_of(fn)
        self._namespace = namespace
        self._key = policy._key
        self._method = False
        self._instances = Instances()
        self._bound: Any = _UNBOUND
        # Keys are the positional arguments as they come: no key function,
        # no namespace, no instance.
        self._simple = self._key is None and namespace is None

    def __set_name__(self, owner: type[Any], name: str) -> None:
        # Defined in a class body: the first argument of calls through the
        # class is the instance, keyed like bound calls.
        self._method = True
        self._simple = False

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        """The decorated function (bound to the instance, for methods)."""
        if self._bound is _UNBOUND:
            return self._fn
        return types.MethodType(self._fn, self._bound)

    @property
    def cache(self) -> BoundedCache[Any, Any]:
        """The cache the function stores in."""
        return self._cache

    @property
    def policy(self) -> Cached:
        """The :class:`Cached` policy that made this function."""
        return self._policy

    def __repr__(self) -> str:
        return f"<CachedFunction {self._name} {self._cache!r}>"

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Return the cached value for the arguments, or compute it."""
        if self._simple and not kwargs:
            key: Any = args
        else:
            key = self._make(args, kwargs)
            if self._bound is not _UNBOUND:
                args = (self._bound, *args)  # type: ignore[assignment]
        try:
            entry = self._data.get(key)
        except TypeError as exc:
            raise self._unhashable(exc) from exc
        # The clock before the expiry: reading it may move every expiry
        # over to a new loop's clock.
        if entry is not None and (
            entry.fresh_until == _INF or self._cache._clock() < entry.fresh_until
        ):
            self._touch(key)
            self._cache._hits += 1
            return entry.value  # type: ignore[no-any-return]
        return await self._policy._miss(self._fn, self._name, key, args, kwargs)  # type: ignore[no-any-return]

    def _make(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The key of a call (beyond the simple case)."""
        bound = self._bound
        if self._key is not None:
            if bound is _UNBOUND:
                return self._key(*args, **kwargs)
            return self._key(bound, *args, **kwargs)
        if bound is not _UNBOUND:
            key = (self._instances.token(bound), make_key(args, kwargs))
        elif self._method and args:
            key = (self._instances.token(args[0]), make_key(args[1:], kwargs))
        else:
            key = make_key(args, kwargs)
        namespace = self._namespace
        return key if namespace is None else (namespace, key)

    def _unhashable(self, exc: TypeError) -> TypeError:
        msg = (
            f"{self._name}: the cache key must be hashable ({exc}); pass "
            "hashable arguments, or key= to make keys of them"
        )
        return TypeError(msg)

    def _bind(self, obj: object) -> CachedFunction[Any, Any]:
        bound: CachedFunction[Any, Any] = object.__new__(type(self))
        for slot in CachedFunction.__slots__[1:]:
            if slot != "__weakref__":
                setattr(bound, slot, getattr(self, slot))
        bound.__dict__ = self.__dict__
        bound._bound = obj
        bound._simple = False
        return bound

    @overload
    def __get__(
        self, obj: None, objtype: type[Any] | None = None
    ) -> CachedFunction[P, T]: ...
    @overload
    def __get__(
        self: CachedFunction[Concatenate[S, P2], T],
        obj: S,
        objtype: type[Any] | None = None,
    ) -> CachedFunction[P2, T]: ...
    def __get__(self, obj: object, objtype: type[Any] | None = None) -> Any:
        return self if obj is None else self._bind(obj)

    # -- management -----------------------------------------------------------

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Forget the value cached for these arguments.

        A computation in flight for them still answers its callers, but its
        result is not stored: the next call computes afresh.

        Returns:
            Whether there was anything to forget (a value, a held error or
            a computation in flight).
        """
        key = args if self._simple and not kwargs else self._make(args, kwargs)
        return self._policy._invalidate(key)

    def cache_clear(self) -> None:
        """Empty the cache: see :meth:`Cached.cache_clear`."""
        self._policy.cache_clear()

    def cache_info(self) -> CacheInfo:
        """A snapshot of the policy's counters: see :class:`CacheInfo`."""
        return self._policy.cache_info()

    async def aclose(self) -> None:
        """Stop the background refreshes: see :meth:`Cached.aclose`."""
        await self._policy.aclose()


class CachedClassMethod(Generic[P, T]):
    """A classmethod whose results are cached per class; made by
    :func:`cached` from a ``classmethod``.

    Accessed through the class (or an instance), it is the
    :class:`CachedFunction` bound to the class.

    .. versionadded:: 0.1
    """

    __slots__ = ("_function",)

    def __init__(self, function: CachedFunction[Any, Any]) -> None:
        self._function = function

    @property
    def __func__(self) -> Callable[..., Any]:
        """The decorated function."""
        return self._function._fn

    def __get__(
        self, obj: object, objtype: type[Any] | None = None
    ) -> CachedFunction[P, T]:
        return self._function._bind(objtype if objtype is not None else type(obj))


class CachedStaticMethod(Generic[P, T]):
    """A staticmethod whose results are cached; made by :func:`cached` from
    a ``staticmethod``.

    Accessed through the class (or an instance), it is a plain
    :class:`CachedFunction`.

    .. versionadded:: 0.1
    """

    __slots__ = ("_function",)

    def __init__(self, function: CachedFunction[Any, Any]) -> None:
        self._function = function

    @property
    def __func__(self) -> Callable[..., Any]:
        """The decorated function."""
        return self._function._fn

    def __get__(
        self, obj: object, objtype: type[Any] | None = None
    ) -> CachedFunction[P, T]:
        return self._function
