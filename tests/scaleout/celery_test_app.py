"""The Celery app the end-to-end tests run in real worker processes (`celery -A ... worker`).

Everything it needs comes from environment variables the test sets: the Redis broker, the
shared limiter's Redis and key, the loopback fakes' URLs and Hull's public key. It is the
recipe the scaling-out page documents.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from celery import Celery

import hull_customerio as hc
from hull_customerio.celery import register_tasks
from hull_customerio.redis_limiter import RedisRateLimiter

RETRY = hc.RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05, max_elapsed=5)

app = Celery("celery_test_app", broker=os.environ["HC_TEST_BROKER"])
app.conf.update(
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
if "HC_TEST_VISIBILITY_TIMEOUT" in os.environ:
    # How soon a message whose worker vanished without a trace is delivered again.
    # kombu looks for such messages every unacked_restore_interval x unacked_restore_throttle
    # seconds (10 x 10 by default): every second here.
    app.conf.broker_transport_options = {
        "visibility_timeout": float(os.environ["HC_TEST_VISIBILITY_TIMEOUT"]),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }


def build_connector(payload: Mapping[str, Any]) -> hc.Connector:
    """The documented recipe: called once per Hull connector and workspace (the tasks cache
    it); every connector of a workspace sends under that workspace's shared limit."""
    settings = hc.Settings.from_private_settings(payload["connector"]["private_settings"])
    configuration = payload["configuration"]
    limiter = RedisRateLimiter(
        os.environ["HC_TEST_LIMITER_REDIS"],
        key=f"{os.environ['HC_TEST_LIMITER_KEY']}:{settings.site_id}",
        rate=float(os.environ["HC_TEST_RATE"]),
    )
    customerio = hc.CustomerIOClient(
        settings.site_id, settings.api_key, base_url=os.environ["HC_TEST_CIO_URL"],
        rate_limit=limiter, retry=RETRY, timeout=5.0,
    )  # fmt: skip
    # Each organization's Hull is its own loopback fake here.
    hull_url = json.loads(os.environ["HC_TEST_HULL_URLS"])[configuration["organization"]]
    hull = hc.HullClient(
        configuration["id"], configuration["secret"], configuration["organization"],
        api_url=hull_url, firehose_url=hull_url, retry=RETRY,
    )  # fmt: skip
    return hc.Connector(
        settings,
        customerio=customerio,
        hull=hull,
        notification_public_key=os.environ["HC_TEST_HULL_PUBLIC_KEY"],
        require_signature=True,
    )


tasks = register_tasks(app, build_connector, name="test", retry_delay=0.5, max_retries=5)
