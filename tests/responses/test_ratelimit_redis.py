"""The respondent rate limits against a real Redis: every count of a request in one round trip."""

import uuid
from collections.abc import Iterator

import pytest
import redis
from django.test import override_settings

from apps.responses import ratelimit

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def redis_cache(redis_url) -> Iterator[str]:
    """The default cache on Redis under a prefix of its own (the database is shared: no flush)."""
    prefix = f"test-rl-{uuid.uuid4().hex[:8]}"
    config = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": redis_url, "KEY_PREFIX": prefix}}  # fmt: skip
    with override_settings(CACHES=config):
        yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture
def round_trips(monkeypatch) -> list[bytes]:
    """Commands sent to Redis, one entry per write to the socket (one round trip each)."""
    sent: list[bytes] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        return send(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


def _counters(redis_url: str, prefix: str) -> dict[str, tuple[int, int]]:
    client = redis.Redis.from_url(redis_url)
    return {
        key.decode(): (int(client.get(key)), client.ttl(key))
        for key in client.scan_iter(f"{prefix}:*rl:*")
    }


def test_both_counts_of_a_request_take_one_round_trip(redis_url, redis_cache, round_trips):
    counts = [("address", "203.0.113.9", 3), ("link", "42", 100)]
    assert ratelimit.hit_many(counts) == [False, False]  # loads the script on first use
    round_trips.clear()
    assert ratelimit.hit_many(counts) == [False, False]
    assert len(round_trips) == 1
    assert round_trips[0].split(b"\r\n")[2].upper() == b"EVALSHA"
    assert ratelimit.hit_many(counts) == [False, False]
    assert ratelimit.hit_many(counts) == [True, False]  # the fourth is over a limit of 3
    counters = _counters(redis_url, redis_cache)
    assert sorted(count for count, _ttl in counters.values()) == [4, 4]
    # Each window's counter expires a little after its window.
    assert all(0 < ttl <= ratelimit.TTL_SECONDS for _count, ttl in counters.values())


def test_a_counter_never_lives_without_its_expiry(redis_url, redis_cache):
    client = redis.Redis.from_url(redis_url)
    assert ratelimit.hit("address", "198.51.100.7", 10) is False
    (key,) = list(client.scan_iter(f"{redis_cache}:*rl:*"))
    client.persist(key)  # as if the expiry were lost: the next count does not put it back...
    ratelimit.hit("address", "198.51.100.7", 10)
    assert client.ttl(key) == -1
    client.delete(key)  # ...but a counter starts with one: INCR and EXPIRE run as one script
    ratelimit.hit("address", "198.51.100.7", 10)
    assert 0 < client.ttl(key) <= ratelimit.TTL_SECONDS


def test_the_respondent_page_counts_address_and_link_in_one_round_trip(
    client, customer_link, redis_url, redis_cache, round_trips
):
    url = f"/s/{customer_link.token}/"
    assert client.get(url).status_code == 200  # first: the link is looked up and remembered
    round_trips.clear()
    assert client.get(url).status_code == 200
    assert len(round_trips) == 1, round_trips
    counters = _counters(redis_url, redis_cache)
    assert sorted(count for count, _ttl in counters.values()) == [2, 2]  # address and link


def test_the_limits_answer_429_on_redis_too(client, customer_link, redis_cache, settings):
    settings.RESPONDENT_RATE_PER_LINK = 2
    url = f"/s/{customer_link.token}/"
    statuses = [client.get(url, REMOTE_ADDR=f"203.0.113.{n}").status_code for n in range(4)]
    assert statuses == [200, 200, 429, 429]
