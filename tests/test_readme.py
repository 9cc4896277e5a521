"""Every ```python block of README.md runs as written.

Each block runs on its own, in a fresh namespace, as a reader pasting it would run it. The
environment points the "real services" variables at the library's fakes on 127.0.0.1, so the
block that reads its credentials from the environment runs too, and the test checks that it
really reached them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hull_customerio.testing import FakeCustomerIO, FakeHull

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    return [m["code"] for m in FENCE.finditer(text) if m["info"].strip() == "python"]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_extractor_finds_python_blocks_only() -> None:
    text = "x\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = 2\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = 2\n"]


def test_the_readme_has_the_three_usage_snippets() -> None:
    assert len(BLOCKS) >= 3


def test_the_two_commands_at_the_top_are_unchanged() -> None:
    text = README.read_text(encoding="utf-8")
    assert (
        'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && '
        ".venv/bin/python examples/quickstart.py"
    ) in text
    assert "\n.venv/bin/python -m pytest -q\n" in text


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeCustomerIO, FakeHull]]:
    with FakeCustomerIO(site_id="env-site", api_key="env-key") as cio, FakeHull() as hull:
        for name, value in {
            "CUSTOMERIO_SITE_ID": cio.site_id,
            "CUSTOMERIO_API_KEY": cio.api_key,
            "CUSTOMERIO_BASE_URL": cio.url,
            "HULL_ID": hull.id,
            "HULL_SECRET": hull.secret,
            "HULL_ORGANIZATION": hull.organization,
            "HULL_API_URL": hull.url,
            "HULL_FIREHOSE_URL": hull.url,
            "HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS": "seg_paying",
        }.items():
            monkeypatch.setenv(name, value)
        yield cio, hull


@pytest.mark.parametrize("number", range(len(BLOCKS)), ids=lambda n: f"block{n + 1}")
def test_a_readme_snippet_runs_as_written(
    number: int, services: tuple[FakeCustomerIO, FakeHull]
) -> None:
    code = compile(BLOCKS[number], f"README.md (python block {number + 1})", "exec")
    exec(code, {"__name__": "__readme__"})  # noqa: S102 -- our own README, the point of the test


def test_the_real_services_snippet_reaches_the_services_named_in_the_environment(
    services: tuple[FakeCustomerIO, FakeHull],
) -> None:
    (block,) = [b for b in BLOCKS if "settings_from_env()" in b]
    exec(compile(block, "README.md (real services)", "exec"), {"__name__": "__readme__"})  # noqa: S102
    cio, hull = services
    assert cio.people["cust-002"]["email"] == "grace@example.com"
    assert hull.traits_for(external_id="cust-002")["customerio/id"] == "cust-002"
