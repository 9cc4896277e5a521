"""Webhook URL tokens (SPEC §8.4): authenticated, compact, valid across hubs sharing a key."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hull_customerio import ConfigurationError
from hull_customerio.hub._tokens import HullCredentials, TokenCodec, build_webhook_url

CREDENTIALS = HullCredentials("acme42.hullapp.io", "5c8a1f2e3b4d5e6f7a8b9c0d", "s3cr3t-value")


def test_a_token_opens_to_the_credentials_it_sealed() -> None:
    codec = TokenCodec("service-key")
    assert codec.open(codec.seal(CREDENTIALS)) == CREDENTIALS


def test_a_token_opens_in_another_codec_with_the_same_token_key() -> None:
    token = TokenCodec("service-key").seal(CREDENTIALS)
    assert TokenCodec("service-key").open(token) == CREDENTIALS


def test_a_token_sealed_under_another_key_does_not_open() -> None:
    token = TokenCodec("other-service-key").seal(CREDENTIALS)
    assert TokenCodec("service-key").open(token) is None


def test_sealing_twice_gives_different_tokens() -> None:
    codec = TokenCodec("service-key")
    assert codec.seal(CREDENTIALS) != codec.seal(CREDENTIALS)


def test_changing_any_character_of_a_token_makes_it_refused() -> None:
    codec = TokenCodec("service-key")
    token = codec.seal(CREDENTIALS)
    alphabet = string.ascii_letters + string.digits + "-_"
    for index, char in enumerate(token):
        for replacement in {alphabet[(alphabet.index(char) + 1) % 64], "A", "_", "="} - {char}:
            altered = token[:index] + replacement + token[index + 1 :]
            assert codec.open(altered) is None, (index, replacement)


def test_a_truncated_or_extended_token_is_refused() -> None:
    codec = TokenCodec("service-key")
    token = codec.seal(CREDENTIALS)
    for cut in range(len(token)):
        assert codec.open(token[:cut]) is None
    assert codec.open(token + "A") is None
    assert codec.open(token + "AAAA") is None
    assert codec.open(" " + token) is None


@pytest.mark.parametrize(
    "token", ["", "not a token", "%%%", "A" * 10_000, "\ud800", "AQ", "AQAAAAAAAAAAAAAAAAAAAAAA"]
)
def test_garbage_tokens_are_refused(token: str) -> None:
    assert TokenCodec("service-key").open(token) is None


def test_a_connector_id_that_is_not_24_hex_characters_still_round_trips() -> None:
    codec = TokenCodec("k")
    odd = HullCredentials("acme.hullapp.io", "not-hex-id", "x")
    assert codec.open(codec.seal(odd)) == odd


@pytest.mark.parametrize(
    "credentials",
    [
        HullCredentials("", "5c8a1f2e3b4d5e6f7a8b9c0d", "s"),
        HullCredentials("acme.hullapp.io", "5c8a1f2e3b4d5e6f7a8b9c0d", ""),
        HullCredentials("a" * 256, "5c8a1f2e3b4d5e6f7a8b9c0d", "s"),
        HullCredentials("acme.hullapp.io", "5c8a1f2e3b4d5e6f7a8b9c0d", "\ud800"),
    ],
)
def test_unusable_credentials_are_a_configuration_error(credentials: HullCredentials) -> None:
    with pytest.raises(ConfigurationError):
        TokenCodec("k").seal(credentials)


def test_an_empty_token_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        TokenCodec("")


def test_reprs_hide_secrets() -> None:
    assert "s3cr3t" not in repr(CREDENTIALS)
    assert "service-key" not in repr(TokenCodec("service-key"))


_ascii = st.text(alphabet=string.ascii_letters + string.digits + ".-_", min_size=1)


@settings(max_examples=300, deadline=None)
@given(
    organization=_ascii.filter(lambda s: len(s) <= 40),
    secret=st.text(alphabet=string.printable, min_size=1, max_size=32),
    connector_id=st.binary(min_size=12, max_size=12).map(bytes.hex),
    base_url=st.text(alphabet=string.ascii_letters + "/:.", min_size=1, max_size=40),
)
def test_the_whole_webhook_url_fits_customerio_255_characters(
    organization: str, secret: str, connector_id: str, base_url: str
) -> None:
    codec = TokenCodec("service-key")
    credentials = HullCredentials(organization, connector_id, secret)
    token = codec.seal(credentials)
    url = build_webhook_url(base_url, token)
    assert len(url) <= 255
    assert url.endswith(f"/webhook?token={token}")
    assert codec.open(token) == credentials


def test_the_url_joins_the_base_without_doubled_slashes() -> None:
    assert build_webhook_url("https://hub.example.com/", "T") == (
        "https://hub.example.com/webhook?token=T"
    )
