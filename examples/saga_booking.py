"""A trip booking saga: book a flight, a hotel and a car, then charge a card.

Shows:

- ``brace.step``: a named call with its policies (a retry for a flaky
  provider, a time limit) and the call that undoes it;
- a compensation with a retry policy of its own (the refund);
- ``brace.Saga``: a trip that completes; a declined card, after which the
  car, hotel and flight are cancelled in reverse order; a compensation that
  fails, reported in the result rather than hidden;
- a saga cancelled by a timeout while a step runs: the completed steps are
  still undone, then the timeout fires;
- ``brace.Registry``: one concurrency limiter per provider, built on first
  use, and a snapshot of them for a health check.

Every provider is simulated in memory, and everything runs on
``brace.testing.VirtualTimeEventLoop``: the simulated seconds take no real
time. The check at the end of each scenario is the point of a saga: nothing
stays booked when the trip did not go through.

Run it with ``python examples/saga_booking.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import brace
from brace.testing import VirtualTimeEventLoop


@dataclass
class Trip:
    """What every step receives: the request, and what earlier steps did."""

    traveller: str
    card: str
    nights: int = 2
    bookings: dict[str, str] = field(default_factory=dict)


class Provider:
    """A booking service: references of what is booked, some failures."""

    def __init__(self, name: str, *, flaky: int = 0, broken_cancel: bool = False):
        self.name = name
        self.booked: set[str] = set()
        self.flaky = flaky  # how many booking calls fail before one works
        self.broken_cancel = broken_cancel
        self.calls = 0

    async def book(self, trip: Trip) -> str:
        async with providers.get_or_create(self.name):  # its concurrency limit
            self.calls += 1
            await asyncio.sleep(0.2)
            if self.flaky:
                self.flaky -= 1
                raise ConnectionError(f"{self.name}: connection reset")
            reference = f"{self.name}-{trip.traveller}-{self.calls}"
            self.booked.add(reference)
            trip.bookings[self.name] = reference
            return reference

    async def cancel(self, reference: str) -> None:
        await asyncio.sleep(0.1)
        if self.broken_cancel:
            raise RuntimeError(f"{self.name}: cancellation API is down")
        self.booked.discard(reference)
        print(f"    cancelled {reference}")


class Bank:
    """Charges cards; refunds fail twice before they go through."""

    def __init__(self) -> None:
        self.charged: dict[str, int] = {}
        self.refund_failures = 2

    async def charge(self, trip: Trip) -> str:
        await asyncio.sleep(0.3)
        if trip.card.startswith("4000"):
            raise ValueError(f"card {trip.card} declined")
        payment = f"pay-{trip.traveller}"
        self.charged[payment] = 100 * trip.nights
        return payment

    async def refund(self, payment: str) -> None:
        if self.refund_failures:
            self.refund_failures -= 1
            raise ConnectionError("bank: try again")
        del self.charged[payment]
        print(f"    refunded {payment}")


# One limiter per provider, made on first use (see Provider.book).
providers: brace.Registry[str, brace.ConcurrencyLimiter] = brace.Registry(
    lambda name: brace.ConcurrencyLimiter(5, name=name), name="providers"
)


def booking_saga(
    flight: Provider, hotel: Provider, car: Provider, bank: Bank
) -> brace.Saga[[Trip]]:
    retry = brace.Retry(
        on=ConnectionError, attempts=3, backoff=brace.Backoff.constant(1)
    )
    return brace.Saga(
        "book_trip",
        [
            brace.step("flight", flight.book, retry, compensate=flight.cancel),
            brace.step("hotel", hotel.book, retry, compensate=hotel.cancel),
            brace.step("car", car.book, brace.Timeout(5), compensate=car.cancel),
            brace.step(
                "payment",
                bank.charge,
                compensate=brace.step("refund", bank.refund, retry),
            ),
        ],
    )


def report(result: brace.SagaResult, *everything: Provider) -> None:
    print(f"  -> {result.status}: {result.statuses}")
    if result.error is not None:
        print(f"  -> error: {result.error!r}")
    for name, error in result.compensation_errors.items():
        print(f"  -> compensation of {name} failed: {error}")
    left = sorted(ref for provider in everything for ref in provider.booked)
    print(f"  -> still booked: {left}")


async def main() -> None:
    loop = asyncio.get_running_loop()

    print("1. a trip that goes through (the hotel's first call fails):")
    flight, hotel, car, bank = (
        Provider("air"),
        Provider("inn", flaky=1),
        Provider("cars"),
        Bank(),
    )
    result = await booking_saga(flight, hotel, car, bank).run(Trip("ada", "4242"))
    report(result, flight, hotel, car)
    print(f"  -> bookings: {result.results}")

    print("2. a declined card: everything booked is cancelled, last first:")
    flight, hotel, car, bank = (
        Provider("air"),
        Provider("inn"),
        Provider("cars"),
        Bank(),
    )
    result = await booking_saga(flight, hotel, car, bank).run(Trip("bob", "4000-0002"))
    report(result, flight, hotel, car)
    if result.error is not None:
        print(f"  -> note: {result.error.__notes__[0]}")

    print("3. the hotel's cancellation API is down: reported; the rest is undone:")
    flight, hotel, car, bank = (
        Provider("air"),
        Provider("inn", broken_cancel=True),
        Provider("cars"),
        Bank(),
    )
    result = await booking_saga(flight, hotel, car, bank).run(Trip("cy", "4000-0002"))
    report(result, flight, hotel, car)

    print("4. cancelled by a timeout while the car is being booked:")
    flight, hotel, car, bank = (
        Provider("air"),
        Provider("inn"),
        Provider("cars"),
        Bank(),
    )
    start = loop.time()
    try:
        async with asyncio.timeout(0.5):
            await booking_saga(flight, hotel, car, bank).run(Trip("dee", "4242"))
    except TimeoutError:
        elapsed = loop.time() - start
        print(f"  -> TimeoutError after {elapsed:.1f} s, compensations included")
    report_left = sorted(ref for p in (flight, hotel, car) for ref in p.booked)
    print(f"  -> still booked: {report_left}")

    print("5. the refund has a retry of its own (a failure after the charge):")
    bank = Bank()

    async def deliver(trip: Trip) -> None:
        raise RuntimeError("no courier available")

    pay_then_deliver = brace.Saga(
        "pay_then_deliver",
        [
            brace.step(
                "payment",
                bank.charge,
                compensate=brace.step(
                    "refund",
                    bank.refund,
                    brace.Retry(
                        on=ConnectionError,
                        attempts=3,
                        backoff=brace.Backoff.constant(1),
                    ),
                ),
            ),
            brace.step("delivery", deliver),
        ],
    )
    result = await pay_then_deliver.run(Trip("eve", "4242"))
    print(f"  -> {result.status}: {result.statuses}; still charged: {bank.charged}")

    print("provider limiters (a health check):")
    for name, entry in providers.snapshot().items():
        acquired = getattr(entry.statistics, "acquired", None)
        print(f"  {name}: {entry.kind}, in use: {entry.in_use}, acquired {acquired}")


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(main())
