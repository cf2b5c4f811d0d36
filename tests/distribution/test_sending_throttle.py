"""The per-organisation rate: workers share one counter per second and take their slots a few
at a time, so a fast sender asks the cache once per several messages and no second ever
holds more than the rate."""

from django.core.cache import cache

from apps.distribution import sending


def test_workers_share_the_rate_and_ask_the_cache_once_per_chunk(monkeypatch):
    cache.clear()
    monkeypatch.setattr(sending.time, "time", lambda: 1_000_000.5)  # all within one second
    asked = []
    incr = cache.incr
    monkeypatch.setattr(
        cache, "incr", lambda *args, **kwargs: asked.append(1) or incr(*args, **kwargs)
    )
    first, second = sending.Throttle(7, 100), sending.Throttle(7, 100)
    assert first.chunk == 5
    granted = 0
    for _ in range(150):  # two workers side by side, more than the second allows
        granted += first.try_acquire() + second.try_acquire()
    assert granted == 100
    assert len(asked) <= 100 // 5 + 2  # one round trip per five messages, plus the refusals
    # Another organisation has its own counter; the next second starts afresh.
    assert sending.Throttle(8, 100).try_acquire()
    monkeypatch.setattr(sending.time, "time", lambda: 1_000_001.5)
    assert first.try_acquire()


def test_a_low_rate_takes_one_slot_at_a_time(monkeypatch):
    cache.clear()
    monkeypatch.setattr(sending.time, "time", lambda: 2_000_000.25)
    workers = [sending.Throttle(9, 4) for _ in range(3)]
    assert [w.chunk for w in workers] == [1, 1, 1]
    granted = [w.try_acquire() for _ in range(3) for w in workers]
    assert granted.count(True) == 4  # no worker holds slots another could have used
