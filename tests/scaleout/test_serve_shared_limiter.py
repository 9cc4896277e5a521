"""`hull-customerio serve` with `HULL_CUSTOMERIO_REDIS_URL` (SPEC §8.8, §9): each workspace's
rate limit is kept in a real Redis, under the key every process configured alike shares."""

from __future__ import annotations

import re
from pathlib import Path

import redis
from scaleout_support import RedisServer

from hull_customerio.redis_limiter import KEY_PREFIX, workspace_key
from hull_customerio.testing import FakeCustomerIO, FakeHull
from serve_support import running_serve

SETTINGS = {"site_id": "site-shared", "api_key": "key-shared",
            "synchronized_segments": ["seg"]}  # fmt: skip


def test_serve_counts_each_workspaces_requests_in_the_redis_of_the_environment(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_server.url(db=3)
    # The limiter's key lives about a second past its last request, less than a loaded machine
    # may take to stop `serve`: Redis tells us of every key set instead (keyspace events).
    client = redis.Redis.from_url(url)
    client.config_set("notify-keyspace-events", "E$")
    events = client.pubsub()
    events.subscribe("__keyevent@3__:set")
    try:
        with (
            FakeCustomerIO(site_id="site-shared", api_key="key-shared") as customerio,
            FakeHull(private_settings=SETTINGS) as hull,
            running_serve(
                tmp_path, customerio, hull,
                environment={"HULL_CUSTOMERIO_REDIS_URL": url, "CUSTOMERIO_RATE_LIMIT": "40"},
            ) as served,
        ):  # fmt: skip
            user = {"user": {"id": "u1", "external_id": "e1", "email": "e1@example.com"},
                    "segments": [{"id": "seg", "name": "S"}]}  # fmt: skip
            answer = hull.send_notification(served.url, hull.notification([user]))
            logs = served.stop()
        set_keys = set()
        while (message := events.get_message(timeout=0.5)) is not None:
            if message["type"] == "message":
                set_keys.add(message["data"].decode())
    finally:
        events.close()
        client.close()

    assert answer.status_code == 200, logs
    assert "e1" in customerio.people
    keys = [key for key in set_keys if "customerio:site-shared" in key]
    # The limiter keeps one key per limit: its prefix, then the name every recipe gives a
    # workspace's limit (`workspace_key`): the site_id and a fingerprint of the api_key.
    (key,) = keys
    assert key == KEY_PREFIX + workspace_key("site-shared", "key-shared")
    assert re.fullmatch(r"hull_customerio:gcra:customerio:site-shared:[0-9a-f]{16}", key), key
    assert "key-shared" not in key
