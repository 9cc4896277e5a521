"""`hub_options_from_env`: a hub from the environment the rest of the library reads (SPEC §8.8)."""

from __future__ import annotations

import pytest

import hull_customerio as hc
from hull_customerio.config import SERVICE_VARIABLES, hub_options_from_env, token_key_from_env
from hull_customerio.redis_limiter import RedisRateLimiter

KEY = "a-token-key-of-the-service-32-bytes-or-more"


def test_only_the_token_key_gives_the_hubs_defaults() -> None:
    assert hub_options_from_env({"HULL_CUSTOMERIO_TOKEN_KEY": f"  {KEY} "}) == {"token_key": KEY}


@pytest.mark.parametrize("value", [None, "", "   "])
def test_without_a_token_key_the_variable_is_named(value: str | None) -> None:
    env = {} if value is None else {"HULL_CUSTOMERIO_TOKEN_KEY": value}
    with pytest.raises(hc.ConfigurationError, match="HULL_CUSTOMERIO_TOKEN_KEY is not set"):
        token_key_from_env(env)
    with pytest.raises(hc.ConfigurationError, match="HULL_CUSTOMERIO_TOKEN_KEY is not set"):
        hub_options_from_env(env)


def test_the_library_variables_become_client_options_for_every_tenant() -> None:
    options = hub_options_from_env({
        "HULL_CUSTOMERIO_TOKEN_KEY": KEY,
        "CUSTOMERIO_BASE_URL": "http://127.0.0.1:9001",
        "CUSTOMERIO_RATE_LIMIT": "none",
        "HULL_API_URL": "http://127.0.0.1:9002",
        "HULL_FIREHOSE_URL": "",  # empty counts as unset
        "HULL_CUSTOMERIO_TRUSTED_KEY_HOSTS": "keys.example.com",
        "HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS": " hullapp.io , ,hullbeta.io",
    })  # fmt: skip
    assert options == {
        "token_key": KEY,
        "customerio_options": {"base_url": "http://127.0.0.1:9001", "rate_limit": None},
        "hull_options": {"api_url": "http://127.0.0.1:9002"},
        "trusted_key_hosts": ("keys.example.com",),
        "trusted_hull_hosts": ("hullapp.io", "hullbeta.io"),
    }


def test_the_options_build_a_hub() -> None:
    options = hub_options_from_env({
        "HULL_CUSTOMERIO_TOKEN_KEY": KEY, "CUSTOMERIO_RATE_LIMIT": "20",
        "HULL_CUSTOMERIO_TRUSTED_KEY_HOSTS": "hullapp.io",
        "HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS": "hullapp.io,hullbeta.io",
    })  # fmt: skip
    for hub in (hc.ConnectorHub(**options), hc.AsyncConnectorHub(**options)):
        assert repr(hub)  # built: every option is one the hubs take
    hc.ConnectorHub(**options).close()


@pytest.mark.parametrize(("rate", "expected"), [(None, 100.0), ("40", 40.0), ("2.5", 2.5)])
def test_a_redis_url_shares_each_workspaces_limit_under_the_hubs_name_for_it(
    rate: str | None, expected: float
) -> None:
    env = {"HULL_CUSTOMERIO_TOKEN_KEY": KEY, "HULL_CUSTOMERIO_REDIS_URL": "redis://:pw@r:6379/2"}
    if rate is not None:
        env["CUSTOMERIO_RATE_LIMIT"] = rate

    options = hub_options_from_env(env)

    assert "customerio_options" not in options  # the rate is the shared limiter's
    limiter = options["limiter_factory"]("site-1:0123456789abcdef")
    assert isinstance(limiter, RedisRateLimiter)
    assert (limiter.key, limiter.rate) == ("customerio:site-1:0123456789abcdef", expected)
    assert "pw" not in repr(limiter)


def test_every_problem_is_listed_naming_its_variable_never_a_secret() -> None:
    with pytest.raises(hc.ConfigurationError) as caught:
        hub_options_from_env({
            "CUSTOMERIO_RATE_LIMIT": "-3",
            "HULL_CUSTOMERIO_REDIS_URL": "https://:hunter2@redis.example",
            "HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS": ",",
        })  # fmt: skip
    problems = caught.value.problems
    assert [problem.split()[0] for problem in problems] == [
        "HULL_CUSTOMERIO_TOKEN_KEY", "CUSTOMERIO_RATE_LIMIT", "HULL_CUSTOMERIO_REDIS_URL",
        "HULL_CUSTOMERIO_TRUSTED_HULL_HOSTS",
    ]  # fmt: skip
    assert "hunter2" not in str(caught.value)


def test_a_shared_limiter_with_the_limit_turned_off_is_refused() -> None:
    with pytest.raises(hc.ConfigurationError, match="CUSTOMERIO_RATE_LIMIT turns the rate"):
        hub_options_from_env({
            "HULL_CUSTOMERIO_TOKEN_KEY": KEY, "CUSTOMERIO_RATE_LIMIT": "0",
            "HULL_CUSTOMERIO_REDIS_URL": "redis://localhost",
        })  # fmt: skip


def test_the_service_variables_are_not_read_as_settings() -> None:
    # They share the HULL_CUSTOMERIO_ prefix with the one-setting variables: none of their
    # names may be a settings key, or the settings would pick them up.
    from hull_customerio.config import SETTINGS_PREFIX, settings_from_env  # noqa: PLC0415

    env = dict.fromkeys(SERVICE_VARIABLES.values(), "x")
    assert all(name.startswith(SETTINGS_PREFIX) for name in env)
    assert settings_from_env(env) == hc.Settings()
