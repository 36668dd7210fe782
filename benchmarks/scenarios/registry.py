"""Registry: looking up the entry of a key that the registry already holds."""

from __future__ import annotations

from collections import OrderedDict

from benchmarks.registry import (
    UNCHECKED,
    Batch,
    Row,
    Skip,
    at_most,
    faster,
    optional_import,
    scenario,
)
from benchmarks.scenarios._common import missing
from brace._registry import Registry

# 64 hosts, looked up round-robin: every lookup moves its key in the LRU
# order, as in a service that calls many upstreams.
KEYS = [f"host-{i}.example.com" for i in range(64)]
MASK = len(KEYS) - 1


class Entry:
    """What the registries hold (the lookup is measured, not the entry)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


def _lookups(lookup: object) -> Batch:
    """A batch of ``lookup(KEYS[i % 64])``."""
    get = lookup

    async def batch(n: int) -> object:
        result = None
        for i in range(n):
            result = get(KEYS[i & MASK])  # type: ignore[operator]
        return result

    return batch


def _dict() -> Batch:
    entries: dict[str, Entry] = {}

    def lookup(key: str) -> Entry:
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = Entry(key)
        return entry

    return _lookups(lookup)


def _handrolled_lru(max_keys: int) -> Batch:
    entries: OrderedDict[str, Entry] = OrderedDict()

    def lookup(key: str) -> Entry:
        entry = entries.get(key)
        if entry is None:
            if len(entries) >= max_keys:
                entries.popitem(last=False)
            entry = entries[key] = Entry(key)
        else:
            entries.move_to_end(key)
        return entry

    return _lookups(lookup)


@scenario(
    "registry_hit",
    order=85,
    title=(
        "look up the entry of one of 64 keys held, round-robin "
        "(`get_or_create` of a known key); ns per lookup"
    ),
    baseline="dict",
    targets=(
        at_most("brace", 1.25, "handrolled_lru"),
        at_most("brace_idle_ttl", 2.5, "handrolled_lru"),
        at_most("brace", 1.1, "cachetools"),
        faster("brace", 4, "purgatory"),
    ),
)
def registry_hit() -> list[Row | Skip]:
    registry = Registry(Entry, max_keys=1000)
    with_ttl = Registry(Entry, max_keys=1000, idle_ttl=300.0)
    for key in KEYS:
        registry.get_or_create(key)
    rows: list[Row | Skip] = [
        Row(
            "dict",
            "unbounded `dict`: `d.get(key)`, set if missing",
            _dict(),
            expect=UNCHECKED,
        ),
        Row(
            "handrolled_lru",
            "`OrderedDict` `get` + `move_to_end`, bounded by hand",
            _handrolled_lru(1000),
            expect=UNCHECKED,
        ),
        Row(
            "brace",
            "`Registry(factory, max_keys=1000).get_or_create(key)`",
            _lookups(registry.get_or_create),
            expect=registry.get_or_create(KEYS[0]),
        ),
        Row(
            "brace_idle_ttl",
            "the same with `idle_ttl=300.0` (reads the loop clock per lookup)",
            _lookups(with_ttl.get_or_create),
            expect=UNCHECKED,
        ),
    ]

    cachetools = optional_import("cachetools")
    if cachetools is None:
        rows.append(missing("cachetools", "cachetools"))
    else:

        class Made(cachetools.LRUCache):  # type: ignore[misc]
            def __missing__(self, key: str) -> Entry:
                entry = self[key] = Entry(key)
                return entry

        cache = Made(1000)
        rows.append(
            Row(
                "cachetools",
                "`cachetools.LRUCache(1000)` with `__missing__`: `cache[key]`",
                _lookups(cache.__getitem__),
                expect=UNCHECKED,
            )
        )

    purgatory = optional_import("purgatory")
    if purgatory is None:
        rows.append(missing("purgatory", "purgatory"))
    else:
        factory = purgatory.AsyncCircuitBreakerFactory()

        async def purgatory_batch(n: int) -> object:
            result = None
            for i in range(n):
                result = await factory.get_breaker(KEYS[i & MASK])
            return result

        rows.append(
            Row(
                "purgatory",
                "`await purgatory.AsyncCircuitBreakerFactory().get_breaker(name)` "
                "(its registry of named breakers)",
                purgatory_batch,
                expect=UNCHECKED,
            )
        )
    return rows
