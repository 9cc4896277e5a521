"""One name for a workspace's shared limit, whoever builds the limiter (SPEC §8.7, §9)."""

from __future__ import annotations

from hull_customerio.config import hub_options_from_env
from hull_customerio.hub._core import WorkspaceKey, limiter_name
from hull_customerio.hub._tokens import HullCredentials
from hull_customerio.redis_limiter import workspace_key


def test_the_key_holds_the_site_id_and_a_fingerprint_never_the_api_key() -> None:
    key = workspace_key("site-1", "secret-api-key")
    prefix, site_id, fingerprint = key.split(":")
    assert (prefix, site_id) == ("customerio", "site-1")
    assert len(fingerprint) == 16
    assert "secret" not in key


def test_another_api_key_for_the_same_site_id_is_another_limit() -> None:
    assert workspace_key("site-1", "real") != workspace_key("site-1", "wrong")
    assert workspace_key("site-1", "real") == workspace_key("site-1", "real")


def test_serve_and_the_hubs_name_a_workspaces_limit_as_the_recipes_do() -> None:
    options = hub_options_from_env(
        {"HULL_CUSTOMERIO_TOKEN_KEY": "k" * 40, "HULL_CUSTOMERIO_REDIS_URL": "redis://h:1/0"}
    )
    hub_key = WorkspaceKey(HullCredentials("a.hullapp.io", "1", "s"), "site-1", "real", "us")
    limiter = options["limiter_factory"](limiter_name(hub_key))
    assert limiter.key == workspace_key("site-1", "real")
