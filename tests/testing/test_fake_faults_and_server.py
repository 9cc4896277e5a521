"""Fault injection and the loopback server's life cycle, shared by both fakes."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from fakes_support import FORMS, async_client, sync_client

from hull_customerio.testing import FakeCustomerIO, FakeHull, FakeTransport

# -- fail_next --------------------------------------------------------------------------------


def test_faults_answer_in_queue_order_then_the_fake_serves_again(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.fail_next(500, 2)
    cio.fail_next(429, retry_after=3)
    statuses = [cio_client.put("/api/v1/customers/1", json={"a": 1}).status_code for _ in range(4)]
    assert statuses == [500, 500, 429, 200]
    assert [r.status for r in cio.requests] == [500, 500, 429, 200]
    assert cio.pending_faults == 0


def test_a_faulted_request_is_recorded_but_never_applied(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.fail_next(503)
    response = cio_client.put("/api/v1/customers/1", json={"a": 1})
    assert response.status_code == 503
    assert response.json() == {"meta": {"error": "Injected fault: HTTP 503"}}
    assert cio.people == {}
    assert len(cio.requests) == 1


def test_retry_after_and_a_custom_body_are_sent(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.fail_next(429, retry_after=0.5, body={"meta": {"error": "slow down"}})
    cio.fail_next(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    first = cio_client.get("/auth")
    second = cio_client.get("/auth")
    assert (first.headers["Retry-After"], first.json()) == ("0.5", {"meta": {"error": "slow down"}})
    assert second.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_faults_can_target_a_path_prefix_and_a_method(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.fail_next(500, path="/api/v2/batch")
    cio.fail_next(502, method="delete")
    assert cio_client.get("/auth").status_code == 200
    assert cio_client.delete("/api/v1/customers/1").status_code == 502
    assert cio_client.post("/api/v2/batch", json={"batch": []}).status_code == 500
    assert cio_client.post("/api/v2/batch", json={"batch": []}).status_code == 200


@pytest.mark.parametrize(("status", "count"), [("boom", 1), (42, 1), (600, 1), (500, 0)], ids=str)
def test_invalid_faults_are_refused(cio: FakeCustomerIO, status: object, count: int) -> None:
    with pytest.raises(ValueError, match=r"fault|status|count"):
        cio.fail_next(status, count)  # type: ignore[arg-type]


def _statuses(cio_client: httpx.Client, count: int) -> list[int]:
    return [cio_client.get("/auth").status_code for _ in range(count)]


def test_fail_randomly_faults_a_seeded_share_of_requests_the_same_way_every_run(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.fail_randomly(0.3, 503, seed=7)
    first = _statuses(cio_client, 200)
    cio.reset()
    cio.fail_randomly(0.3, 503, seed=7)
    again = _statuses(cio_client, 200)

    assert first == again
    assert set(first) == {200, 503}
    assert 40 <= first.count(503) <= 80  # about 30 % of 200


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_fail_randomly_at_the_edges_never_or_always_faults(
    cio: FakeCustomerIO, cio_client: httpx.Client, fraction: float
) -> None:
    cio.fail_randomly(fraction, 500, seed=1)

    assert set(_statuses(cio_client, 20)) == ({500} if fraction else {200})


def test_fail_randomly_only_matches_its_path_and_stops_on_clear_faults(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.fail_randomly(1.0, 502, path="/api/v2/batch")

    assert cio_client.get("/auth").status_code == 200
    assert cio_client.post("/api/v2/batch", json={"batch": []}).status_code == 502
    cio.clear_faults()
    assert cio_client.post("/api/v2/batch", json={"batch": []}).status_code == 200


@pytest.mark.parametrize(("fraction", "status"), [(-0.1, 500), (1.5, 500), (0.5, "boom")])
def test_fail_randomly_refuses_a_bad_fraction_or_fault(
    cio: FakeCustomerIO, fraction: float, status: object
) -> None:
    with pytest.raises(ValueError, match=r"fraction|fault"):
        cio.fail_randomly(fraction, status)  # type: ignore[arg-type]


def test_clear_faults_drops_the_queue(cio: FakeCustomerIO, cio_client: httpx.Client) -> None:
    cio.fail_next(500, 5)
    cio.clear_faults()
    assert cio_client.get("/auth").status_code == 200


# -- timeouts and disconnects -----------------------------------------------------------------


def test_an_injected_timeout_raises_read_timeout_in_process(cio: FakeCustomerIO) -> None:
    cio.fail_next("timeout")
    with sync_client(cio, "transport", auth=("site", "key")) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.put("/api/v1/customers/1", json={"a": 1})
        assert client.put("/api/v1/customers/1", json={"a": 2}).status_code == 200
    assert cio.people == {"1": {"a": 2}}
    assert [r.status for r in cio.requests] == [None, 200]


def test_an_injected_timeout_holds_the_request_past_the_clients_timeout(
    cio: FakeCustomerIO,
) -> None:
    cio.fail_next("timeout")
    with sync_client(cio, "server", auth=("site", "key"), timeout=0.1) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get("/auth")
        assert time.monotonic() - started < 1.0
        assert client.get("/auth").status_code == 200


def test_stop_releases_a_request_held_by_an_injected_timeout(cio: FakeCustomerIO) -> None:
    cio.fail_next("timeout")
    cio.start()
    errors: list[Exception] = []

    def call() -> None:
        with httpx.Client(base_url=cio.url, auth=("site", "key"), timeout=10) as client:
            try:
                client.get("/auth")
            except httpx.HTTPError as exc:
                errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not cio.requests:
        time.sleep(0.005)
    started = time.monotonic()
    cio.stop()
    caller.join(timeout=5)
    assert time.monotonic() - started < 1.0
    assert not caller.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], httpx.RemoteProtocolError)


def test_an_injected_disconnect_closes_without_an_answer(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.fail_next("disconnect")
    with pytest.raises(httpx.RemoteProtocolError):
        cio_client.get("/auth")
    assert cio_client.get("/auth").status_code == 200


# -- latency ----------------------------------------------------------------------------------


def test_latency_delays_every_answer(cio: FakeCustomerIO, cio_client: httpx.Client) -> None:
    cio.latency = 0.05
    started = time.monotonic()
    assert cio_client.put("/api/v1/customers/1", json={"a": 1}).status_code == 200
    assert time.monotonic() - started >= 0.05
    assert cio.people == {"1": {"a": 1}}


def test_latency_beyond_the_read_timeout_is_a_read_timeout(cio: FakeCustomerIO, form: str) -> None:
    cio.latency = 0.5
    with (
        sync_client(cio, form, auth=("site", "key"), timeout=0.05) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.put("/api/v1/customers/1", json={"a": 1})
    # The work was done; only the answer was late, as with a slow real server.
    assert cio.people == {"1": {"a": 1}}


def test_negative_latency_is_refused(cio: FakeCustomerIO) -> None:
    with pytest.raises(ValueError, match="latency"):
        cio.latency = -1


@pytest.mark.anyio
@pytest.mark.parametrize("form", FORMS)
async def test_latency_does_not_serialise_concurrent_async_requests(form: str) -> None:
    fake = FakeCustomerIO()
    fake.latency = 0.05
    async with async_client(fake, form, auth=("site", "key")) as client:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(client.put(f"/api/v1/customers/{n}", json={"n": n}) for n in range(5))
        )
        elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 5
    assert 0.05 <= elapsed < 0.2  # five answers in parallel, not 0.25 s in a row
    assert len(fake.people) == 5


@pytest.mark.anyio
async def test_async_injected_timeout_raises_read_timeout_in_process() -> None:
    fake = FakeCustomerIO()
    fake.fail_next("timeout")
    async with async_client(fake, "transport", auth=("site", "key")) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/auth")


# -- rate limit -------------------------------------------------------------------------------


def test_requests_beyond_the_rate_limit_get_429_with_retry_after(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.rate_limit = 2
    statuses = [cio_client.put(f"/api/v1/customers/{n}", json={}).status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    limited = cio.requests[-1]
    assert limited.status == 429
    response = cio_client.get("/auth")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert set(cio.people) == {"0", "1"}


def test_the_rate_limit_window_slides(cio: FakeCustomerIO, cio_client: httpx.Client) -> None:
    now = [100.0]
    cio._clock = lambda: now[0]  # a test-only hook: no sleeping for the window to pass
    cio.rate_limit = 1
    assert cio_client.get("/auth").status_code == 200
    assert cio_client.get("/auth").status_code == 429
    now[0] += 1.0
    assert cio_client.get("/auth").status_code == 200


def test_the_rate_limit_retry_after_can_be_set(
    cio: FakeCustomerIO, cio_client: httpx.Client
) -> None:
    cio.rate_limit = 1
    cio.rate_limit_retry_after = 0
    cio_client.get("/auth")
    assert cio_client.get("/auth").headers["Retry-After"] == "0"
    cio.rate_limit = None
    assert cio_client.get("/auth").status_code == 200


def test_an_invalid_rate_limit_is_refused(cio: FakeCustomerIO) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        cio.rate_limit = 0


# -- the loopback server ----------------------------------------------------------------------


def test_start_returns_a_loopback_url_and_stop_joins_every_thread() -> None:
    before = set(threading.enumerate())
    fake = FakeHull()
    url = fake.start()
    assert url.startswith("http://127.0.0.1:")
    assert fake.url == url
    assert fake.running
    # A keep-alive connection still open when the server stops must not keep a thread alive.
    with httpx.Client(base_url=url) as client:
        client.get("/api/v1/app")
        fake.stop()
    assert not fake.running
    assert set(threading.enumerate()) <= before


def test_the_url_before_start_and_a_second_start_are_errors() -> None:
    fake = FakeCustomerIO()
    with pytest.raises(RuntimeError, match="start"):
        _ = fake.url
    with fake, pytest.raises(RuntimeError, match="already running"):
        fake.start()
    fake.stop()  # a second stop is harmless


def test_a_fake_can_be_restarted_and_keeps_its_records() -> None:
    fake = FakeCustomerIO()
    for _ in range(2):
        with fake, httpx.Client(base_url=fake.url, auth=("site", "key")) as client:
            client.put("/api/v1/customers/1", json={"n": len(fake.requests)})
    assert fake.people == {"1": {"n": 1}}


def test_the_server_writes_nothing_to_stdout_or_stderr(
    cio: FakeCustomerIO, capfd: pytest.CaptureFixture[str]
) -> None:
    cio.fail_next("disconnect")
    cio.fail_next("timeout")
    with sync_client(cio, "server", auth=("site", "key"), timeout=0.05) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/auth")
        with pytest.raises(httpx.ReadTimeout):
            client.get("/auth")
        client.get("/auth")
        client.get("/nothing")
    assert capfd.readouterr() == ("", "")


def test_chunked_request_bodies_are_read(cio: FakeCustomerIO) -> None:
    def chunks() -> object:
        yield b'{"a":'
        yield b" 1}"

    with sync_client(cio, "server", auth=("site", "key")) as client:
        response = client.put("/api/v1/customers/1", content=chunks())  # type: ignore[arg-type]
    assert response.status_code == 200
    assert cio.people == {"1": {"a": 1}}


def test_the_transport_is_an_httpx_mock_transport(cio: FakeCustomerIO) -> None:
    transport = cio.transport()
    assert isinstance(transport, httpx.MockTransport)
    assert isinstance(transport, FakeTransport)
    assert transport.service is cio
