"""Pins the types of brace.Hedge; checked by mypy --strict, never run."""

from __future__ import annotations

import datetime as dt
from typing import assert_type

import brace


class Budget:
    def withdraw(self, error: Exception | None, /) -> bool:
        return True

    def deposit(self, attempts: int, last_error: Exception | None, /) -> None:
        pass


@brace.Hedge(delay=0.1)
async def lookup(key: str, *, replica: int = 0) -> bytes:
    return key.encode()


class Client:
    @brace.Hedge(delay=dt.timedelta(milliseconds=100))
    async def get(self, key: str) -> str:
        return key


async def check() -> None:
    assert_type(await lookup("k"), bytes)
    assert_type(await lookup("k", replica=2), bytes)
    assert_type(await Client().get("k"), str)
    assert_type(await brace.Hedge(delay=0).call(lookup, "k"), bytes)
    hedge = brace.Hedge(
        delay="p95",
        max_hedges=2,
        on=(ConnectionError, TimeoutError),
        hedge_on_failure=False,
        initial_delay=dt.timedelta(milliseconds=50),
        window=200,
        min_samples=10,
        budget=Budget(),
        name="lookup",
        listeners=[print],
    )
    assert_type(hedge.current_delay(), float)
    assert_type(hedge.describe(), tuple[str, dict[str, object]])
    assert_type(
        brace.Hedge(delay=1, on=lambda exc: isinstance(exc, OSError)).delay,
        float | str,
    )
    assert_type(brace.compose(hedge), brace.Pipeline)

    def on_hedge(event: brace.HedgeStarted) -> None:
        assert_type(event.attempt, int)
        assert_type(event.error, BaseException | None)

    def on_won(event: brace.HedgeWon) -> None:
        assert_type(event.elapsed, float)

    with (
        brace.subscribe(on_hedge, brace.HedgeStarted),
        brace.subscribe(on_won, brace.HedgeWon),
    ):
        pass
    # Negative cases: each line must keep failing type checks.
    await lookup(42)  # type: ignore[arg-type]
    brace.Hedge()  # type: ignore[call-arg]
    brace.Hedge(delay=[0.1])  # type: ignore[arg-type]
    brace.Hedge(delay=0.1, budget=object())  # type: ignore[arg-type]
    brace.Hedge(0.1)  # type: ignore[call-arg]
    await brace.Hedge(delay=0.1).call(lookup, 1)  # type: ignore[arg-type]
    brace.subscribe(on_hedge, brace.HedgeWon)  # type: ignore[arg-type]
