"""Contending writers with backoff and jitter, simulated on brace's virtual clock.

A reproduction of the simulation in "Exponential Backoff And Jitter" (Marc
Brooker, AWS Architecture Blog, 2015): *clients* writers start together and
each wants to update one shared row exactly once, under optimistic
concurrency control (OCC). An attempt reads the row's version, then writes
with that version; the write succeeds only if nobody committed in between,
else it fails with :class:`Conflict` and the client backs off and retries
under a :class:`brace.Retry`. Every network hop takes a random delay (mean
10 ms, standard deviation 2 ms, as in the post), drawn from a seeded
:class:`random.Random`.

The whole run happens on :class:`brace.testing.VirtualTimeEventLoop`, so a
minute of simulated contention takes less than a tenth of a second of real
time, and every result is reproducible from its seed.

For each jitter mode of :meth:`brace.Backoff.exponential` (same initial delay
and cap for all), it measures the work (write calls made by all clients)
and the completion time (virtual time until the last client has its
success reply). Run it with ``python examples/backoff_simulation.py``.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from collections.abc import Iterable
from typing import NamedTuple

import brace
from brace.testing import VirtualTimeEventLoop

__all__ = [
    "JITTERS",
    "Client",
    "Conflict",
    "Result",
    "Row",
    "average",
    "backoff_for",
    "main",
    "simulate",
    "table",
]

#: The jitter modes compared, in the order of the post.
JITTERS: tuple[brace.Jitter, ...] = ("none", "equal", "full", "decorrelated")

#: One network hop: mean and standard deviation, in seconds (the post's model).
HOP_MEAN = 0.010
HOP_SD = 0.002
#: The backoff schedule shared by all jitter modes: 5 ms doubling to 2 s.
INITIAL = 0.005
MAXIMUM = 2.0
#: Bounds the otherwise unlimited retrying (``attempts=None``); never reached.
DEADLINE = 24 * 3600.0

#: The default seeds averaged over by :func:`main`.
SEEDS: tuple[int, ...] = (1, 2, 3, 4, 5)
#: The client counts tabulated by :func:`main`.
CLIENTS: tuple[int, ...] = (10, 30, 100)


class Conflict(Exception):
    """The row changed between an attempt's read and its write."""


class Result(NamedTuple):
    """What one simulation (or an average of several) measured."""

    calls: float
    """Write calls made by all clients, failed ones included: the work."""
    completion_time: float
    """Virtual seconds from the start until the last client succeeded."""


class Network:
    """Delays each message by a random, always positive, amount."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    async def hops(self, count: int = 1) -> None:
        """Wait for *count* consecutive one-way network hops."""
        delay = sum(
            abs(self._rng.normalvariate(HOP_MEAN, HOP_SD)) for _ in range(count)
        )
        await asyncio.sleep(delay)


class Row:
    """The contended database row, on the server: a version number."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.version = 0
        self.calls = 0


class Client:
    """One writer, which wants to update the row exactly once."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self.rejected = False

    async def write_once(self) -> None:
        """One OCC attempt: read the version, then write conditionally on it.

        Raises:
            Conflict: Someone else committed between the read and the write.
        """
        row, network = self.row, self.row.network
        # The read request reaches the server. After a conflict, the reply
        # that reported it travels first: one sleep covers both hops, which
        # saves a timer per retry and leaves the server's timeline unchanged.
        await network.hops(2 if self.rejected else 1)
        version = row.version
        await network.hops(2)  # the read reply, then the write request
        row.calls += 1
        self.rejected = row.version != version
        if self.rejected:
            raise Conflict
        row.version += 1
        await network.hops()  # the reply to the successful write


def backoff_for(jitter: brace.Jitter) -> brace.Backoff:
    """The capped exponential schedule used for *jitter*.

    The multiplier is brace's default: 2, or 3 for decorrelated jitter
    (Brooker's formulation).
    """
    return brace.Backoff.exponential(initial=INITIAL, maximum=MAXIMUM, jitter=jitter)


async def _contend(jitter: brace.Jitter, clients: int, seed: int) -> Result:
    loop = asyncio.get_running_loop()
    start = loop.time()
    seeds = random.Random(seed)
    row = Row(Network(random.Random(seeds.getrandbits(64))))
    backoff = backoff_for(jitter)
    # One policy per client, each with its own random source derived from
    # *seed*: reproducible, yet independent. Seeding every client with the
    # same number would give them identical delays: they would retry in step,
    # much as with no jitter at all.
    retries = [
        brace.Retry(
            on=Conflict,
            attempts=None,
            deadline=DEADLINE,
            backoff=backoff,
            rng=random.Random(seeds.getrandbits(64)),
        )
        for _ in range(clients)
    ]
    async with asyncio.TaskGroup() as group:
        for retry in retries:
            group.create_task(retry.call(Client(row).write_once))
    assert row.version == clients, "every client writes exactly once"
    return Result(calls=row.calls, completion_time=loop.time() - start)


def simulate(jitter: brace.Jitter, *, clients: int, seed: int) -> Result:
    """Run one contention simulation on a fresh virtual-time event loop.

    Args:
        jitter: The jitter mode of the clients' exponential backoff.
        clients: How many clients contend for the row.
        seed: Seeds every random choice (network delays and jitter).

    Returns:
        The write calls made and the virtual completion time, in seconds.
    """
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        return runner.run(_contend(jitter, clients, seed))


def average(jitter: brace.Jitter, *, clients: int, seeds: Iterable[int]) -> Result:
    """The mean :class:`Result` of :func:`simulate` over *seeds*."""
    results = [simulate(jitter, clients=clients, seed=seed) for seed in seeds]
    return Result(
        calls=statistics.fmean(r.calls for r in results),
        completion_time=statistics.fmean(r.completion_time for r in results),
    )


def table(clients: Iterable[int] = CLIENTS, seeds: Iterable[int] = SEEDS) -> list[str]:
    """The lines of a markdown table of :func:`average` for each setting."""
    seeds = tuple(seeds)  # iterated once per row
    lines = [
        "| clients | jitter | calls (work) | completion time (ms) |",
        "| ------: | :----- | -----------: | -------------------: |",
    ]
    for count in clients:
        for jitter in JITTERS:
            result = average(jitter, clients=count, seeds=seeds)
            lines.append(
                f"| {count} | {jitter} | {result.calls:.0f} "
                f"| {result.completion_time * 1000:.0f} |"
            )
    return lines


def main() -> None:
    """Print the results table, averaged over :data:`SEEDS`."""
    print(f"Mean over seeds {', '.join(map(str, SEEDS))}:\n")
    print("\n".join(table()))


if __name__ == "__main__":
    main()
