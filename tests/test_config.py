"""Configuration from environment variables: names, precedence, clear errors, no secrets."""

from __future__ import annotations

import json

import httpx
import pytest

import hull_customerio as hc
from hull_customerio.config import (
    CUSTOMERIO_VARIABLES,
    HULL_VARIABLES,
    async_customerio_client_from_env,
    async_hull_client_from_env,
    customerio_client_from_env,
    hull_client_from_env,
    settings_from_env,
)
from hull_customerio.testing import FakeCustomerIO, FakeHull

SECRET = "sk-very-secret-value"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_variable_names_are_the_clis() -> None:
    assert dict(CUSTOMERIO_VARIABLES) == {
        "site_id": "CUSTOMERIO_SITE_ID",
        "api_key": "CUSTOMERIO_API_KEY",
        "region": "CUSTOMERIO_REGION",
        "base_url": "CUSTOMERIO_BASE_URL",
        "rate_limit": "CUSTOMERIO_RATE_LIMIT",
        "webhook_signing_key": "CUSTOMERIO_WEBHOOK_SIGNING_KEY",
    }
    assert list(HULL_VARIABLES.values()) == [
        "HULL_ID",
        "HULL_SECRET",
        "HULL_ORGANIZATION",
        "HULL_API_URL",
        "HULL_FIREHOSE_URL",
    ]


# -- settings ---------------------------------------------------------------------------------


def test_an_empty_environment_gives_the_default_settings() -> None:
    assert settings_from_env({}) == hc.Settings()


def test_os_environ_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS", "seg1")
    assert settings_from_env().synchronized_segments == ("seg1",)


def test_every_kind_of_setting_is_read_from_its_variable() -> None:
    settings = settings_from_env(
        {
            "CUSTOMERIO_SITE_ID": "site",
            "CUSTOMERIO_API_KEY": SECRET,
            "CUSTOMERIO_REGION": "EU",
            "CUSTOMERIO_WEBHOOK_SIGNING_KEY": "whsec",
            "HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS": " seg1, seg2 ,,",
            "HULL_CUSTOMERIO_EVENTS_FILTER": '["Signed Up", "a,b"]',
            "HULL_CUSTOMERIO_ENABLE_USER_DELETION": "yes",
            "HULL_CUSTOMERIO_ANONYMOUS_EVENTS": "0",
            "HULL_CUSTOMERIO_MAX_ATTRIBUTES_PER_CALL": "50",
            "HULL_CUSTOMERIO_USER_ID_MAPPING": "email",
        }
    )
    assert settings == hc.Settings(
        site_id="site",
        api_key=SECRET,
        region="eu",
        webhook_signing_key="whsec",
        synchronized_segments=("seg1", "seg2"),
        events_filter=("Signed Up", "a,b"),
        enable_user_deletion=True,
        anonymous_events=False,
        max_attributes_per_call=50,
        user_id_mapping="email",
    )


def test_later_sources_win_base_then_json_then_one_key_variables() -> None:
    base = {"synchronized_segments": ["from-base"], "user_id_mapping": "email", "site_id": "b"}
    environ = {
        "HULL_CUSTOMERIO_SETTINGS": json.dumps(
            {"synchronized_segments": ["from-json"], "site_id": "j", "anonymous_events": True}
        ),
        "HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS": "from-variable",
        "CUSTOMERIO_SITE_ID": "from-variable",
    }
    settings = settings_from_env(environ, base=base)
    assert settings.synchronized_segments == ("from-variable",)
    assert settings.site_id == "from-variable"
    assert settings.user_id_mapping == "email"
    assert settings.anonymous_events is True


def test_blank_variables_count_as_unset() -> None:
    settings = settings_from_env(
        {"CUSTOMERIO_REGION": "  ", "HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS": ""},
        base={"region": "eu", "synchronized_segments": ["s"]},
    )
    assert (settings.region, settings.synchronized_segments) == ("eu", ("s",))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HULL_CUSTOMERIO_SETTINGS": "{not json"}, "HULL_CUSTOMERIO_SETTINGS is not valid JSON"),
        (
            {"HULL_CUSTOMERIO_SETTINGS": "[1]"},
            "HULL_CUSTOMERIO_SETTINGS must be a JSON object of settings",
        ),
        (
            {"HULL_CUSTOMERIO_ENABLE_USER_DELETION": "maybe"},
            "HULL_CUSTOMERIO_ENABLE_USER_DELETION must be true or false, got 'maybe'",
        ),
        (
            {"HULL_CUSTOMERIO_EVENTS_FILTER": "[oops"},
            "HULL_CUSTOMERIO_EVENTS_FILTER is not a valid JSON array",
        ),
        (
            {"HULL_CUSTOMERIO_MAX_ATTRIBUTES_PER_CALL": "301"},
            "max_attributes_per_call must be from 1 to 300, got 301 "
            "(from HULL_CUSTOMERIO_MAX_ATTRIBUTES_PER_CALL)",
        ),
        (
            {"CUSTOMERIO_REGION": "mars"},
            "region must be one of 'us', 'eu', 'auto', got 'mars' (from CUSTOMERIO_REGION)",
        ),
        (
            {"HULL_CUSTOMERIO_SETTINGS": '{"anonymous_events": "yes"}'},
            "anonymous_events must be true or false, got a string (from HULL_CUSTOMERIO_SETTINGS)",
        ),
    ],
)
def test_bad_values_name_their_variable(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(hc.ConfigurationError) as caught:
        settings_from_env(environ)
    assert caught.value.problems == [expected]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(hc.ConfigurationError) as caught:
        settings_from_env(
            {"HULL_CUSTOMERIO_ANONYMOUS_EVENTS": "x", "HULL_CUSTOMERIO_ENABLE_USER_DELETION": "y"}
        )
    assert len(caught.value.problems) == 2


def test_a_problem_with_a_base_key_is_not_attributed_to_a_variable() -> None:
    with pytest.raises(hc.ConfigurationError) as caught:
        settings_from_env({}, base={"max_attributes_per_call": 0})
    assert caught.value.problems == ["max_attributes_per_call must be from 1 to 300, got 0"]


# -- Customer.io clients ----------------------------------------------------------------------


def test_a_customerio_client_needs_both_credentials_and_names_the_missing_variables() -> None:
    with pytest.raises(hc.ConfigurationError) as caught:
        customerio_client_from_env({"CUSTOMERIO_REGION": "eu"})
    assert caught.value.problems == [
        "CUSTOMERIO_SITE_ID is not set",
        "CUSTOMERIO_API_KEY is not set",
    ]


def test_customerio_errors_and_reprs_never_show_the_api_key() -> None:
    with pytest.raises(hc.ConfigurationError) as caught:
        customerio_client_from_env({"CUSTOMERIO_API_KEY": SECRET, "CUSTOMERIO_RATE_LIMIT": "fast"})
    assert SECRET not in str(caught.value)
    assert caught.value.problems == [
        "CUSTOMERIO_SITE_ID is not set",
        "CUSTOMERIO_RATE_LIMIT must be a positive number of requests per second, or 0/none",
    ]
    with customerio_client_from_env(
        {"CUSTOMERIO_SITE_ID": "site", "CUSTOMERIO_API_KEY": SECRET}
    ) as client:
        assert SECRET not in repr(client)


@pytest.mark.parametrize("value", ["-1", "inf", "nan"])
def test_a_rate_limit_must_be_positive_and_finite(value: str) -> None:
    environ = {"CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_API_KEY": "k", "CUSTOMERIO_RATE_LIMIT": value}
    with pytest.raises(hc.ConfigurationError, match="CUSTOMERIO_RATE_LIMIT"):
        customerio_client_from_env(environ)


def test_a_customerio_client_from_the_environment_talks_to_the_fake() -> None:
    with FakeCustomerIO(site_id="site", api_key=SECRET) as fake:
        environ = {
            "CUSTOMERIO_SITE_ID": "site",
            "CUSTOMERIO_API_KEY": SECRET,
            "CUSTOMERIO_BASE_URL": fake.url,
            "CUSTOMERIO_RATE_LIMIT": "none",
        }
        with customerio_client_from_env(environ) as client:
            client.identify("42", {"email": "ada@example.com"})
            assert client.check_credentials() is True
        assert fake.people == {"42": {"email": "ada@example.com"}}


def test_settings_supply_what_the_variables_do_not_and_options_win() -> None:
    settings = hc.Settings(site_id="site", api_key=SECRET, region="eu")
    fake = FakeCustomerIO(site_id="site", api_key=SECRET)
    http = httpx.Client(transport=fake.transport())
    with customerio_client_from_env({}, settings=settings, http_client=http) as client:
        assert client.region == "eu"
        client.identify("1", {"a": 1})
    http.close()
    assert fake.requests[0].headers["host"] == "track-eu.customer.io"


@pytest.mark.anyio
async def test_an_async_customerio_client_from_the_environment_talks_to_the_fake() -> None:
    with FakeCustomerIO() as fake:
        environ = {
            "CUSTOMERIO_SITE_ID": fake.site_id,
            "CUSTOMERIO_API_KEY": fake.api_key,
            "CUSTOMERIO_BASE_URL": fake.url,
        }
        async with async_customerio_client_from_env(environ) as client:
            await client.track("7", "Signed Up", {"plan": "pro"})
        assert [event.name for event in fake.events] == ["Signed Up"]


# -- Hull clients -----------------------------------------------------------------------------


def test_a_hull_client_names_every_missing_credential() -> None:
    with pytest.raises(hc.ConfigurationError) as caught:
        hull_client_from_env({})
    assert caught.value.problems == ["HULL_ID, HULL_SECRET, HULL_ORGANIZATION not set"]


def test_no_hull_variables_and_not_required_gives_none() -> None:
    assert hull_client_from_env({}, required=False) is None


def test_some_hull_variables_is_an_error_even_when_not_required() -> None:
    with pytest.raises(hc.ConfigurationError) as caught:
        hull_client_from_env({"HULL_SECRET": SECRET, "HULL_ID": "x"}, required=False)
    assert caught.value.problems == [
        "HULL_ORGANIZATION not set (set all three, or none to run without Hull)"
    ]
    assert SECRET not in str(caught.value)


def test_a_hull_client_from_the_environment_writes_to_the_fake() -> None:
    with FakeHull() as fake:
        environ = {
            "HULL_ID": fake.id,
            "HULL_SECRET": fake.secret,
            "HULL_ORGANIZATION": fake.organization,
            "HULL_API_URL": fake.url,
            "HULL_FIREHOSE_URL": fake.url,
        }
        client = hull_client_from_env(environ, flush_at=1)
        assert fake.secret not in repr(client)
        client.as_user({"external_id": "u1"}).traits({"plan": "pro"})
        client.close()
        assert fake.traits_for(external_id="u1") == {"plan": "pro"}


@pytest.mark.anyio
async def test_an_async_hull_client_from_the_environment_writes_to_the_fake() -> None:
    with FakeHull() as fake:
        environ = {
            "HULL_ID": fake.id,
            "HULL_SECRET": fake.secret,
            "HULL_ORGANIZATION": fake.organization,
            "HULL_API_URL": fake.url,
            "HULL_FIREHOSE_URL": fake.url,
        }
        client = async_hull_client_from_env(environ, required=False)
        assert client is not None
        await client.as_user({"external_id": "u1"}).traits({"plan": "pro"})
        await client.close()
        assert fake.traits_for(external_id="u1") == {"plan": "pro"}
    assert async_hull_client_from_env({}, required=False) is None
