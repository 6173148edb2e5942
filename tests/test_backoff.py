"""`shared.backoff.Backoff`: the retry delays every service waits, as plain numbers."""

from __future__ import annotations

import pytest

from shared.backoff import Backoff


def test_delays_double_from_the_base_until_the_cap() -> None:
    backoff = Backoff(base=0.2, cap=5.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


def test_the_first_attempt_and_anything_below_it_wait_the_base() -> None:
    backoff = Backoff(base=5.0, cap=120.0)
    assert backoff.delay(0) == backoff.delay(1) == 5.0
    assert [backoff.delay(n) for n in (2, 3, 9)] == [10.0, 20.0, 120.0]


def test_a_factor_sets_how_fast_delays_grow() -> None:
    assert [Backoff(base=1.0, factor=3.0, cap=100.0).delay(n) for n in (1, 2, 3)] == [
        1.0,
        3.0,
        9.0,
    ]


def test_a_long_outage_stays_at_the_cap() -> None:
    assert Backoff(base=0.2, cap=5.0).delay(100_000) == 5.0


def test_jitter_only_shortens_a_delay_by_at_most_its_fraction() -> None:
    backoff = Backoff(base=10.0, cap=10.0, jitter=0.25)
    delays = {backoff.delay(3) for _ in range(200)}
    assert all(7.5 <= d <= 10.0 for d in delays)
    assert len(delays) > 1


@pytest.mark.parametrize(
    "options",
    [
        {"base": -1.0},
        {"base": 1.0, "cap": -1.0},
        {"base": 1.0, "factor": 0.5},
        {"base": 1.0, "jitter": 2.0},
    ],
)
def test_nonsense_settings_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**options)
