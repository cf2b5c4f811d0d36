"""The respondent rate limits counted per process and settled in batches, on any cache backend
(the in-memory one here; tests/responses/test_ratelimit_redis.py does the same on Redis)."""

import random

import pytest
from django.core.cache import cache

from apps.responses import ratelimit


@pytest.fixture(autouse=True)
def _one_window(monkeypatch):
    monkeypatch.setattr(ratelimit, "current_window", lambda: 1000)
    cache.clear()
    yield
    cache.clear()


def _run(
    processes: list[ratelimit.Counts], limit: int, requests: int, seed: int,
    address: str = "192.0.2.1",
) -> list[bool]:  # fmt: skip
    rng = random.Random(seed)  # noqa: S311 (a reproducible interleaving, not a secret)
    return [rng.choice(processes).hit_many([("address", address, limit)])[0]
            for _ in range(requests)]  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("limit", [600, 6000])
def test_several_processes_admit_the_limit_and_at_most_the_stated_tolerance_beyond(limit, seed):
    processes = [ratelimit.Counts() for _ in range(3)]
    verdicts = _run(processes, limit, 2 * limit, seed)
    bound = 2 * len(processes) * (ratelimit.batch_size(limit) - 1)
    assert verdicts.index(True) >= limit  # never refused before the real count passes the limit
    assert limit <= verdicts.count(False) <= limit + bound
    # The shared count trails the real one by less than a batch per process.
    shared = cache.get(ratelimit._cache_key("address", "192.0.2.1", 1000))
    assert 2 * limit - len(processes) * ratelimit.batch_size(limit) < shared <= 2 * limit


def test_one_process_is_exact_and_small_limits_are_exact_across_processes():
    assert _run([ratelimit.Counts()], 600, 700, 1).index(True) == 600
    assert ratelimit.batch_size(100) == 1
    three = [ratelimit.Counts() for _ in range(3)]
    assert _run(three, 100, 150, 1, address="192.0.2.2").count(False) == 100


def test_a_new_window_starts_afresh(monkeypatch):
    counts = ratelimit.Counts()
    assert [counts.hit_many([("link", "7", 2)])[0] for _ in range(3)] == [False, False, True]
    monkeypatch.setattr(ratelimit, "current_window", lambda: 1001)
    assert counts.hit_many([("link", "7", 2)]) == [False]


def test_past_the_counter_cap_everything_unsettled_is_settled(monkeypatch):
    monkeypatch.setattr(ratelimit, "MAX_COUNTERS", 10)
    counts = ratelimit.Counts()
    for n in range(10):
        counts.hit_many([("address", f"192.0.2.{n}", 6000)])  # one count each, unsettled
    assert cache.get(ratelimit._cache_key("address", "192.0.2.0", 1000)) is None
    counts.hit_many([("address", "192.0.2.99", 6000)])
    assert cache.get(ratelimit._cache_key("address", "192.0.2.0", 1000)) == 1
    assert len(counts._counters) == 1
