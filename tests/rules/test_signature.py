"""Webhook authenticity: X-CIO-Signature over v0:<timestamp>:<raw body> (SPEC §4.1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hull_customerio.errors import WebhookVerificationError
from hull_customerio.rules.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_webhook,
    verify_webhook_request,
    verify_webhook_signature,
)

KEY = "whsec-test-signing-key-0123456789"
NOW = 1_613_063_089
BODY = (
    Path(__file__).parent.parent / "data" / "webhooks" / "reporting-email-sent.json"
).read_bytes()


def signed(body: bytes = BODY, timestamp: int | str = NOW, key: str = KEY) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign_webhook(body, timestamp=timestamp, signing_key=key),
    }


def failure(
    body: bytes = BODY,
    *,
    timestamp: str | None,
    signature: str | None,
    tolerance: float | None = 300,
    now: float = NOW,
) -> WebhookVerificationError:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook_signature(
            body,
            timestamp=timestamp,
            signature=signature,
            signing_key=KEY,
            tolerance=tolerance,
            now=now,
        )
    assert KEY not in str(caught.value)
    return caught.value


# --- signing -----------------------------------------------------------------------------------


def test_the_signature_is_hex_hmac_sha256_of_v0_timestamp_body() -> None:
    expected = hmac.new(KEY.encode(), b"v0:1613063089:" + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(BODY, timestamp=NOW, signing_key=KEY) == expected
    assert sign_webhook(BODY, timestamp="1613063089", signing_key=KEY) == expected


def test_a_known_vector() -> None:
    # computed independently: printf 'v0:1700000000:{"a":1}' | openssl dgst -sha256 -hmac secret
    assert (
        sign_webhook(b'{"a":1}', timestamp=1700000000, signing_key="secret")
        == "7d06e4dcbb54167f0033658ac8c45abe35b1fa257ff38a448e290762b595f902"
    )


def test_the_signature_is_lowercase_hex() -> None:
    signature = sign_webhook(BODY, timestamp=NOW, signing_key=KEY)
    assert len(signature) == 64
    assert signature == signature.lower()
    int(signature, 16)


# --- verifying ---------------------------------------------------------------------------------


def test_a_valid_signature_passes() -> None:
    headers = signed()
    verify_webhook_signature(
        BODY,
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER],
        signing_key=KEY,
        now=NOW,
    )


def test_an_uppercase_signature_passes() -> None:
    headers = signed()
    verify_webhook_signature(
        BODY,
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER].upper(),
        signing_key=KEY,
        now=NOW,
    )


@pytest.mark.parametrize("position", [0, 1, len(BODY) // 2, len(BODY) - 1])
def test_a_body_changed_by_one_byte_is_a_mismatch(position: int) -> None:
    headers = signed()
    tampered = bytearray(BODY)
    tampered[position] ^= 0x01
    error = failure(
        bytes(tampered),
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER],
    )
    assert error.reason == "signature_mismatch"


def test_a_body_with_one_byte_more_is_a_mismatch() -> None:
    headers = signed()
    error = failure(
        BODY + b"\n", timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER]
    )
    assert error.reason == "signature_mismatch"


def test_re_serialised_json_is_a_mismatch() -> None:
    headers = signed()
    error = failure(
        json.dumps(json.loads(BODY)).encode(),
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER],
    )
    assert error.reason == "signature_mismatch"


def test_another_key_is_a_mismatch() -> None:
    headers = signed(key="another-key")
    error = failure(timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER])
    assert error.reason == "signature_mismatch"
    assert "another-key" not in str(error)


def test_a_signature_made_for_another_timestamp_is_a_mismatch() -> None:
    signature = signed(timestamp=NOW - 1)[SIGNATURE_HEADER]
    assert failure(timestamp=str(NOW), signature=signature).reason == "signature_mismatch"


@pytest.mark.parametrize("signature", ["abc", "zz" * 32, "é" * 64, "0" * 64, "0" * 65])
def test_garbage_signatures_are_a_mismatch(signature: str) -> None:
    assert failure(timestamp=str(NOW), signature=signature).reason == "signature_mismatch"


@pytest.mark.parametrize("signature", [None, "", "   "])
def test_a_missing_signature(signature: str | None) -> None:
    error = failure(timestamp=str(NOW), signature=signature)
    assert error.reason == "missing_signature"
    assert SIGNATURE_HEADER in str(error)


@pytest.mark.parametrize("timestamp", [None, "", " "])
def test_a_missing_timestamp(timestamp: str | None) -> None:
    error = failure(timestamp=timestamp, signature=signed()[SIGNATURE_HEADER])
    assert error.reason == "missing_timestamp"
    assert TIMESTAMP_HEADER in str(error)


@pytest.mark.parametrize(
    "timestamp",
    ["soon", "1613063089.5", "-1613063089", "0x10", "\uff11\uff12\uff13", "9" * 5000, "1e9"],
)
def test_a_timestamp_that_is_not_unix_seconds_is_invalid(timestamp: str) -> None:
    error = failure(timestamp=timestamp, signature="0" * 64)
    assert error.reason == "invalid_timestamp"
    assert len(str(error)) < 300


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (301, "stale_timestamp"),
        (-301, "stale_timestamp"),
        (86_400 * 7, "stale_timestamp"),
        (-86_400, "stale_timestamp"),
    ],
)
def test_timestamps_beyond_the_tolerance_are_stale(skew: int, reason: str) -> None:
    headers = signed(timestamp=NOW - skew)
    error = failure(timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER])
    assert error.reason == reason
    assert ("in the past" if skew > 0 else "in the future") in str(error)


@pytest.mark.parametrize("skew", [0, 1, 299, 300, -1, -300])
def test_timestamps_just_inside_the_tolerance_pass(skew: int) -> None:
    headers = signed(timestamp=NOW - skew)
    verify_webhook_signature(
        BODY,
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER],
        signing_key=KEY,
        now=NOW,
    )


def test_a_custom_tolerance() -> None:
    headers = signed(timestamp=NOW - 30)
    error = failure(
        timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER], tolerance=10
    )
    assert error.reason == "stale_timestamp"
    verify_webhook_signature(
        BODY,
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER],
        signing_key=KEY,
        tolerance=30,
        now=NOW,
    )


def test_a_disabled_tolerance_accepts_any_age_but_still_checks_the_signature() -> None:
    headers = signed(timestamp=1)
    verify_webhook_signature(
        BODY,
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER],
        signing_key=KEY,
        tolerance=None,
        now=NOW,
    )
    error = failure(BODY + b" ", timestamp="1", signature=headers[SIGNATURE_HEADER], tolerance=None)
    assert error.reason == "signature_mismatch"


def test_the_clock_defaults_to_now() -> None:
    headers = signed(timestamp=int(time.time()))
    verify_webhook_signature(
        BODY,
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER],
        signing_key=KEY,
    )
    old = signed(timestamp=NOW)
    with pytest.raises(WebhookVerificationError, match="in the past"):
        verify_webhook_signature(
            BODY,
            timestamp=old[TIMESTAMP_HEADER],
            signature=old[SIGNATURE_HEADER],
            signing_key=KEY,
        )


@pytest.mark.parametrize("tolerance", [-1, float("nan")])
def test_a_negative_tolerance_is_a_programming_error(tolerance: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        verify_webhook_signature(
            BODY, timestamp=str(NOW), signature="0" * 64, signing_key=KEY, tolerance=tolerance
        )


@given(body=st.binary(max_size=200), skew=st.integers(-300, 300), key=st.text(min_size=1))
def test_whatever_is_signed_verifies(body: bytes, skew: int, key: str) -> None:
    timestamp = str(NOW + skew)
    verify_webhook_signature(
        body,
        timestamp=timestamp,
        signature=sign_webhook(body, timestamp=timestamp, signing_key=key),
        signing_key=key,
        now=NOW,
    )


# --- from request headers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "rename",
    [str, str.lower, str.upper, lambda name: name.replace("CIO", "Cio")],
    ids=["as-documented", "lower", "upper", "mixed"],
)
def test_headers_are_found_case_insensitively(rename: object) -> None:
    headers = {rename(k): v for k, v in signed().items()}  # type: ignore[operator]
    headers["Content-Type"] = "application/json"
    assert verify_webhook_request(BODY, headers, signing_key=KEY, now=NOW) is True


def test_bytes_header_values_are_read() -> None:
    headers = {k.encode().decode(): v.encode() for k, v in signed().items()}
    assert verify_webhook_request(BODY, headers, signing_key=KEY, now=NOW) is True


def test_headers_from_httpx_work() -> None:
    headers = httpx.Headers(signed())
    assert verify_webhook_request(BODY, headers, signing_key=KEY, now=NOW) is True


@pytest.mark.parametrize(
    ("missing", "reason"),
    [(SIGNATURE_HEADER, "missing_signature"), (TIMESTAMP_HEADER, "missing_timestamp")],
)
def test_missing_headers(missing: str, reason: str) -> None:
    headers = signed()
    del headers[missing]
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook_request(BODY, headers, signing_key=KEY, now=NOW)
    assert caught.value.reason == reason


def test_no_headers_at_all() -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook_request(BODY, {}, signing_key=KEY, now=NOW)
    assert caught.value.reason == "missing_signature"


def test_a_tampered_request_fails() -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook_request(BODY[:-1], signed(), signing_key=KEY, now=NOW)
    assert caught.value.reason == "signature_mismatch"


def test_the_request_tolerance_is_passed_on() -> None:
    headers = signed(timestamp=1)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook_request(BODY, headers, signing_key=KEY, now=NOW)
    assert verify_webhook_request(BODY, headers, signing_key=KEY, tolerance=None, now=NOW)


@pytest.mark.parametrize("key", [None, "", "  "])
def test_without_a_signing_key_verification_is_skipped(key: str | None) -> None:
    assert verify_webhook_request(BODY, {}, signing_key=key) is False
