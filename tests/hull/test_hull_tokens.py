"""SPEC §5.1: user tokens are HS256 JWTs signed with the connector secret."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from hull_customerio.errors import ValidationError
from hull_customerio.hull import HullClient, make_user_token, tokens, user_claims
from hull_customerio.hull.tokens import UserTokenSigner

CONNECTOR_ID = "5f1a2b3c4d5e6f7a8b9c0d1e"
SECRET = "s3cr3t-0123456789abcdef0123456789abcdef"
ORGANIZATION = "abc123.hullapp.io"


def decode(token: str) -> dict[str, Any]:
    return jwt.decode(token, SECRET, algorithms=["HS256"], issuer=CONNECTOR_ID)


def test_token_carries_issuer_int_iat_filtered_claims_subject_type_and_default_flags() -> None:
    before = int(time.time())
    token = make_user_token(
        {"email": "ann@example.com", "id": "u1", "name": "Ann", "external_id": None},
        connector_id=CONNECTOR_ID,
        secret=SECRET,
    )
    after = int(time.time())

    claims = decode(token)

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert claims["iss"] == CONNECTOR_ID
    assert type(claims["iat"]) is int
    assert before <= claims["iat"] <= after
    assert claims["io.hull.asUser"] == {"id": "u1", "email": "ann@example.com"}
    assert claims["io.hull.subjectType"] == "user"
    assert claims["io.hull.create"] is True
    assert claims["io.hull.active"] is False
    assert set(claims) == {
        "iss",
        "iat",
        "io.hull.asUser",
        "io.hull.subjectType",
        "io.hull.create",
        "io.hull.active",
    }


@pytest.mark.parametrize(("create", "active"), [(True, False), (False, True), (False, False)])
def test_token_carries_the_create_and_active_flags(create: bool, active: bool) -> None:
    token = make_user_token(
        {"external_id": "42"},
        connector_id=CONNECTOR_ID,
        secret=SECRET,
        create=create,
        active=active,
    )

    claims = decode(token)

    assert claims["io.hull.create"] is create
    assert claims["io.hull.active"] is active


def test_token_iat_is_the_given_time_truncated_to_seconds() -> None:
    token = make_user_token(
        {"anonymous_id": "a-1"}, connector_id=CONNECTOR_ID, secret=SECRET, now=1_700_000_000.9
    )

    assert decode(token)["iat"] == 1_700_000_000


def test_token_is_rejected_with_another_secret() -> None:
    token = make_user_token({"id": "u1"}, connector_id=CONNECTOR_ID, secret=SECRET)

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-0123456789abcdef0123", algorithms=["HS256"])


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"id": "u1"}, {"id": "u1"}),
        ({"email": "a@b.io", "name": "Ann", "traits": {}}, {"email": "a@b.io"}),
        (
            {"anonymous_id": "x", "external_id": "e", "email": "a@b.io", "id": "u"},
            {"id": "u", "email": "a@b.io", "external_id": "e", "anonymous_id": "x"},
        ),
        (
            {"id": "", "email": "  ", "external_id": None, "anonymous_id": "an"},
            {"anonymous_id": "an"},
        ),
    ],
)
def test_claims_are_filtered_to_the_four_identity_claims_without_blanks(
    claims: dict[str, Any], expected: dict[str, str]
) -> None:
    assert user_claims(claims) == expected


@pytest.mark.parametrize(
    "claims",
    [{}, {"name": "Ann"}, {"id": None, "email": ""}, {"email": "   ", "external_id": None}],
)
def test_no_usable_claim_is_a_clear_validation_error(claims: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="at least one non-blank value among id, email"):
        make_user_token(claims, connector_id=CONNECTOR_ID, secret=SECRET)


def test_a_claim_that_is_not_a_string_is_named_without_its_value() -> None:
    with pytest.raises(ValidationError) as caught:
        user_claims({"email": "a@b.io", "external_id": 12345})

    assert caught.value.problems == ["external_id: must be a string, not int"]
    assert "12345" not in str(caught.value)
    assert "a@b.io" not in str(caught.value)


def test_client_user_token_is_signed_with_the_connector_credentials() -> None:
    hull = HullClient(CONNECTOR_ID, SECRET, ORGANIZATION)
    try:
        token = hull.user_token({"email": "a@b.io", "plan": "pro"}, create=False, active=True)
    finally:
        hull.close()

    claims = decode(token)
    assert claims["iss"] == CONNECTOR_ID
    assert claims["io.hull.asUser"] == {"email": "a@b.io"}
    assert claims["io.hull.create"] is False
    assert claims["io.hull.active"] is True


# -- UserTokenSigner: the clients' signer gives make_user_token's very tokens, for less work --

SIGNER_CLAIMS = [
    {"email": "ann@example.com"},
    {"id": "u1", "email": "ann@example.com", "external_id": "e-1", "anonymous_id": "anon"},
    {"external_id": "Zoë 北京 🎉", "name": "ignored"},
    {"anonymous_id": 'quote " and \\ backslash'},
]


@pytest.mark.parametrize("claims", SIGNER_CLAIMS)
@pytest.mark.parametrize(("create", "active"), [(True, False), (False, True)])
def test_signer_tokens_are_byte_identical_to_make_user_token(
    claims: dict[str, Any], create: bool, active: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens.time, "time", lambda: 1_700_000_000.75)
    signer = UserTokenSigner(CONNECTOR_ID, SECRET)

    token, names = signer.sign(claims, create=create, active=active)

    expected = make_user_token(
        claims, connector_id=CONNECTOR_ID, secret=SECRET, create=create, active=active,
        now=1_700_000_000.75,
    )  # fmt: skip
    assert token == expected
    assert names == tuple(user_claims(claims))


def test_signer_reuses_a_token_within_its_second_only(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_700_000_000.1]
    monkeypatch.setattr(tokens.time, "time", lambda: clock[0])
    signer = UserTokenSigner(CONNECTOR_ID, SECRET)
    signed = []
    original = signer._algorithm.sign

    def counting(message: bytes, key: bytes) -> bytes:
        signed.append(message)
        return original(message, key)

    monkeypatch.setattr(signer._algorithm, "sign", counting)

    first, _ = signer.sign({"email": "a@b.io"})
    clock[0] = 1_700_000_000.9
    again, _ = signer.sign({"email": "a@b.io", "name": "not a claim"})
    other_flags, _ = signer.sign({"email": "a@b.io"}, create=False)
    clock[0] = 1_700_000_001.0
    later, _ = signer.sign({"email": "a@b.io"})

    assert again == first
    assert len(signed) == 3  # the same claims in the same second were signed once
    assert decode(other_flags)["io.hull.create"] is False
    assert decode(first)["iat"] == 1_700_000_000
    assert decode(later)["iat"] == 1_700_000_001


def test_signer_refuses_an_asymmetric_key_as_secret_like_pyjwt() -> None:
    pem = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
        "-----END PUBLIC KEY-----\n"
    )
    signer = UserTokenSigner(CONNECTOR_ID, pem)

    with pytest.raises(jwt.InvalidKeyError):
        make_user_token({"id": "u1"}, connector_id=CONNECTOR_ID, secret=pem)
    with pytest.raises(jwt.InvalidKeyError):
        signer.sign({"id": "u1"})


def test_signer_without_usable_claims_is_a_validation_error() -> None:
    signer = UserTokenSigner(CONNECTOR_ID, SECRET)

    with pytest.raises(ValidationError, match="at least one non-blank value"):
        signer.sign({"name": "Ann"})


def test_signer_keeps_a_bounded_number_of_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens.time, "time", lambda: 1_700_000_000.0)
    signer = UserTokenSigner(CONNECTOR_ID, SECRET)

    for number in range(tokens._MAX_CACHED_TOKENS + 10):
        signer.sign({"id": f"u{number}"})

    assert len(signer._tokens) <= tokens._MAX_CACHED_TOKENS
