"""Batch files (SPEC §8.5): where they may come from, and how they are split into users."""

from __future__ import annotations

import json

import pytest

from hull_customerio import ValidationError
from hull_customerio.hub._batch import (
    BadLine,
    JsonLines,
    check_batch_url,
    credentials_from_query,
    is_public_address,
    parse_batch_request,
)


@pytest.mark.parametrize(
    "url",
    [
        "http://files.example.com/batch.json",  # not https
        "ftp://files.example.com/batch.json",
        "https://127.0.0.1/batch.json",
        "https://10.0.0.8/batch.json",
        "https://192.168.1.2/batch.json",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[::1]/batch.json",
        "https://[::ffff:127.0.0.1]/batch.json",
        "https://localhost/batch.json",
        "https://a.localhost/batch.json",
        "https://0.0.0.0/batch.json",
        "not a url",
        "https:///nohost",
    ],
)
def test_without_a_host_list_only_public_https_hosts_are_allowed(url: str) -> None:
    with pytest.raises(ValidationError):
        check_batch_url(url, None)


def test_a_public_https_host_is_allowed_when_it_resolves_to_public_addresses() -> None:
    url = "https://hull-exports.s3.amazonaws.com/x.json?sig=1"
    assert check_batch_url(url, None, ["52.216.1.1"]) == "hull-exports.s3.amazonaws.com"


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["52.216.1.1", "10.1.2.3"], [], ["fd00::1"]])
def test_a_name_resolving_to_any_private_address_is_refused(addresses: list[str]) -> None:
    with pytest.raises(ValidationError, match="public address"):
        check_batch_url("https://files.example.com/x.json", None, addresses)


def test_with_a_host_list_only_listed_hosts_are_allowed() -> None:
    assert check_batch_url("https://files.example.com/a", ["files.example.com"]) == (
        "files.example.com"
    )
    with pytest.raises(ValidationError, match="not an allowed host"):
        check_batch_url("https://other.example.com/a", ["files.example.com"])


def test_a_listed_loopback_host_may_use_plain_http_for_tests() -> None:
    assert check_batch_url("http://127.0.0.1:8123/f.json", ["127.0.0.1"]) == "127.0.0.1"


def test_a_listed_public_host_still_needs_https() -> None:
    with pytest.raises(ValidationError, match="https"):
        check_batch_url("http://files.example.com/a", ["files.example.com"])
    with pytest.raises(ValidationError, match="https"):
        check_batch_url("http://8.8.8.8/a", ["8.8.8.8"])


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.0.1", False),
     ("100.64.0.1", False), ("::1", False), ("2606:4700::1111", True), ("224.0.0.1", False),
     ("garbage", False)],
)  # fmt: skip
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_the_batch_request_names_a_json_lines_user_report() -> None:
    body = json.dumps({"url": "https://x/y", "format": "json", "object_type": "user_report"})
    assert parse_batch_request(body.encode()).url == "https://x/y"


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"{}", b'{"url": 3}', b'{"url": "https://x", "format": "csv"}',
     b'{"url": "https://x", "object_type": "event_report"}', b"[" * 10_000, b"\xff"],
)  # fmt: skip
def test_an_unusable_batch_request_is_a_validation_error(body: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_batch_request(body)


def test_credentials_come_from_organization_id_or_ship_and_secret() -> None:
    by_id = credentials_from_query({"organization": "o", "id": "i", "secret": "s"})
    by_ship = credentials_from_query({"organization": "o", "ship": "i", "secret": "s"})
    assert by_id == by_ship
    assert by_id is not None
    assert by_id.connector_id == "i"
    assert credentials_from_query({"organization": "o", "secret": "s"}) is None
    assert credentials_from_query({"organization": "o", "id": "i", "secret": ""}) is None


def test_lines_split_across_chunks_are_joined() -> None:
    lines = JsonLines()
    data = b'{"a": 1}\n{"b":\n 2}\n\n{"c": 3}'
    records = []
    for index in range(len(data)):
        records += lines.feed(data[index : index + 1])
    records += lines.close()
    assert records == [{"a": 1}, BadLine(2, "line 2 is not JSON"), BadLine(3, "line 3 is not JSON"),
                       {"c": 3}]  # fmt: skip


def test_a_line_too_long_is_one_bad_line_and_is_not_kept() -> None:
    lines = JsonLines(max_line_bytes=10)
    records = lines.feed(b'{"a": "' + b"x" * 100)
    records += lines.feed(b"x" * 100)
    assert lines._partial == bytearray()
    records += lines.feed(b'"}\n{"b": 1}\n')
    assert records == [BadLine(1, "line 1 is too long"), {"b": 1}]


@pytest.mark.parametrize("line", [b"[1]", b"3", b'"x"', b"null", b"1" * 5000, b"NaN x"])
def test_a_line_that_is_not_an_object_is_a_bad_line(line: bytes) -> None:
    (record,) = JsonLines().feed(line + b"\n")
    assert isinstance(record, BadLine)
