"""Webhook URL tokens (SPEC §8.4): authenticated, compact, valid across hubs sharing a key."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hull_customerio import ConfigurationError
from hull_customerio.hub._tokens import HullCredentials, TokenCodec, build_webhook_url

CREDENTIALS = HullCredentials("acme42.hullapp.io", "5c8a1f2e3b4d5e6f7a8b9c0d", "s3cr3t-value")
SERVICE_KEY = "service-token-key-of-32-bytes-or-more"


def test_a_token_opens_to_the_credentials_it_sealed() -> None:
    codec = TokenCodec(SERVICE_KEY)
    assert codec.open(codec.seal(CREDENTIALS)) == CREDENTIALS


def test_a_token_opens_in_another_codec_with_the_same_token_key() -> None:
    token = TokenCodec(SERVICE_KEY).seal(CREDENTIALS)
    assert TokenCodec(SERVICE_KEY).open(token) == CREDENTIALS


def test_a_token_sealed_under_another_key_does_not_open() -> None:
    token = TokenCodec("another-service-key-of-32-bytes-or-more").seal(CREDENTIALS)
    assert TokenCodec(SERVICE_KEY).open(token) is None


def test_sealing_twice_gives_different_tokens() -> None:
    codec = TokenCodec(SERVICE_KEY)
    assert codec.seal(CREDENTIALS) != codec.seal(CREDENTIALS)


def test_changing_any_character_of_a_token_makes_it_refused() -> None:
    codec = TokenCodec(SERVICE_KEY)
    token = codec.seal(CREDENTIALS)
    alphabet = string.ascii_letters + string.digits + "-_"
    for index, char in enumerate(token):
        for replacement in {alphabet[(alphabet.index(char) + 1) % 64], "A", "_", "="} - {char}:
            altered = token[:index] + replacement + token[index + 1 :]
            assert codec.open(altered) is None, (index, replacement)


def test_a_truncated_or_extended_token_is_refused() -> None:
    codec = TokenCodec(SERVICE_KEY)
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
    assert TokenCodec(SERVICE_KEY).open(token) is None


def test_a_connector_id_that_is_not_24_hex_characters_still_round_trips() -> None:
    codec = TokenCodec(SERVICE_KEY)
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
        TokenCodec(SERVICE_KEY).seal(credentials)


@pytest.mark.parametrize(
    "weak",
    [
        "",
        "x" * 31,  # one byte short
        "\u00e9" * 15 + "x",  # 31 bytes in UTF-8, though only 16 characters
        "correct horse battery staple",
    ],
    ids=["empty", "31-ascii", "31-utf8", "passphrase"],
)
def test_a_token_key_under_32_bytes_is_refused_with_how_to_make_one(weak: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        TokenCodec(weak)
    text = str(refused.value)
    assert "token_key must be at least 32 bytes" in text
    assert "secrets.token_urlsafe(32)" in text
    if weak:
        assert weak not in text


@pytest.mark.parametrize(
    "key", ["x" * 32, "\u00e9" * 16, "k" * 1000], ids=["32-ascii", "32-utf8", "long"]
)
def test_a_token_key_of_32_bytes_or_more_is_accepted(key: str) -> None:
    codec = TokenCodec(key)
    assert codec.open(codec.seal(CREDENTIALS)) == CREDENTIALS


@pytest.mark.parametrize("key", [None, b"a-bytes-token-key-of-32-bytes-or-more", 12345])
def test_a_token_key_that_is_not_text_is_refused(key: object) -> None:
    with pytest.raises(ConfigurationError, match="token_key must be a string"):
        TokenCodec(key)  # type: ignore[arg-type]


def test_reprs_hide_secrets() -> None:
    assert "s3cr3t" not in repr(CREDENTIALS)
    assert SERVICE_KEY not in repr(TokenCodec(SERVICE_KEY))


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
    codec = TokenCodec(SERVICE_KEY)
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
