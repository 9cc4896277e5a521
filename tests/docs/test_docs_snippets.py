"""Every complete ```python block of docs/*.md runs as written; the others are marked fragments.

A block is a *fragment* when the line right before its fence is an HTML comment starting with
``fragment`` (``<!-- fragment -->`` or ``<!-- fragment: why -->``): it shows a call, a
signature or a part of a larger program, and uses names defined elsewhere. The comment is not
rendered. Every other block is complete and runs here:

- in a fresh interpreter (a subprocess, ``python -W error -m``), as a reader pasting it would
  run it, with a timeout;
- in a folder of its own, where the earlier blocks of its page that name a file on their first
  line (``# tasks.py``, ``# myapp/views.py``) are saved under that name, so the block can import
  them as the page tells the reader to;
- with the environment a deployment gives: the Customer.io and Hull variables point at the
  library's loopback fakes, ``REDIS_URL`` at a real redis-server started for the test, and
  ``HULL_CUSTOMERIO_TOKEN_KEY`` holds a fresh key.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hull_customerio.testing import FakeCustomerIO, FakeHull
from scaleout.scaleout_support import RedisServer

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"^<!--\s*fragment\b.*-->$")
FILE_NAME = re.compile(r"#\s*(?P<path>[\w/]+\.py)\b")
TEST_FUNCTION = re.compile(r"^(async )?def test_", re.MULTILINE)
TIMEOUT = 60


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    fragment: bool

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """The file the block says it is (``# tasks.py — ...`` on its first line), if any."""
        first = self.code.split("\n", 1)[0]
        match = FILE_NAME.match(first)
        return match["path"] if match else None


def is_python(info: str) -> bool:
    words = info.split()
    return bool(words) and words[0] in {"python", "py", "python3"}


def python_blocks(page: str, text: str) -> list[Block]:
    """The page's python blocks, each with its first line's number and its fragment mark."""
    blocks = []
    for match in FENCE.finditer(text):
        if not is_python(match["info"]):
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        fragment = text[: match.start()].endswith(f"{before}\n") and bool(MARKER.match(before))
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(page, line, match["code"], fragment))
    return blocks


def stray_markers(page: str, text: str) -> list[str]:
    """Fragment marks that are not on the line right before a python fence."""
    lines = text.split("\n")
    return [
        f"{page}:{number + 1}"
        for number, line in enumerate(lines)
        if MARKER.match(line)
        and not (number + 1 < len(lines) and is_python(lines[number + 1].removeprefix("```"))
                 and lines[number + 1].startswith("```"))
    ]  # fmt: skip


PAGES = {path.name: path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md"))}
BLOCKS = [block for name, text in PAGES.items() for block in python_blocks(name, text)]
COMPLETE = [block for block in BLOCKS if not block.fragment]


def test_the_extractor_finds_python_blocks_and_their_fragment_marks() -> None:
    text = (
        "Intro\n```python\na = 1\n```\n"
        "<!-- fragment -->\n```python\nb(a)\n```\n"
        '<!-- fragment: a signature -->\n```py title="x.py"\nc()\n```\n'
        "<!-- fragment -->\n\n```python\nd = 4\n```\n"  # a blank line: the mark is not attached
        "```bash\nls\n```\n```json\n{}\n```\n"
    )
    blocks = python_blocks("x.md", text)
    assert [(b.code, b.fragment, b.line) for b in blocks] == [
        ("a = 1\n", False, 2),
        ("b(a)\n", True, 6),
        ("c()\n", True, 10),
        ("d = 4\n", False, 15),
    ]
    assert stray_markers("x.md", text) == ["x.md:13"]


def test_a_block_names_its_file_on_its_first_line() -> None:
    assert Block("p", 1, "# tasks.py — run with: celery\nx\n", False).file_name == "tasks.py"
    assert Block("p", 1, "# myapp/views.py\n", False).file_name == "myapp/views.py"
    assert Block("p", 1, "# the web side, e.g. a handler\n", False).file_name is None


def test_every_fragment_mark_is_attached_to_a_python_block() -> None:
    assert [m for name, text in PAGES.items() for m in stray_markers(name, text)] == []


def test_the_docs_have_complete_snippets_on_the_pages_that_teach_with_them() -> None:
    pages = {block.page for block in COMPLETE}
    expected = {"index.md", "testing.md", "deploying.md", "serving-hull.md", "scaling-out.md"}
    assert expected <= pages
    assert len(COMPLETE) >= 20


def test_complete_snippets_use_only_names_they_define_or_import(tmp_path: Path) -> None:
    """What running cannot show: a name used only inside a function that the block never calls
    (a view, a task) must be defined too. Pyflakes' undefined-name check, through ruff."""
    for block in COMPLETE:
        write(tmp_path / block.page.removesuffix(".md") / f"line_{block.line}.py", block.code)
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "F821",
         "--output-format", "concise", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with RedisServer().running() as server:
        yield server.url()


@pytest.fixture(scope="module")
def environment(redis_url: str) -> Iterator[dict[str, str]]:
    with FakeCustomerIO(site_id="env-site", api_key="env-key") as cio, FakeHull() as hull:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("HULL_", "CUSTOMERIO_", "REDIS_"))
        }
        env.update({
            "CUSTOMERIO_SITE_ID": cio.site_id,
            "CUSTOMERIO_API_KEY": cio.api_key,
            "CUSTOMERIO_BASE_URL": cio.url,
            "HULL_ID": hull.id,
            "HULL_SECRET": hull.secret,
            "HULL_ORGANIZATION": hull.organization,
            "HULL_API_URL": hull.url,
            "HULL_FIREHOSE_URL": hull.url,
            "HULL_CUSTOMERIO_SYNCHRONIZED_SEGMENTS": "seg_paying",
            "HULL_CUSTOMERIO_TOKEN_KEY": secrets.token_urlsafe(32),
            "REDIS_URL": redis_url,
        })  # fmt: skip
        yield env


@pytest.mark.parametrize("block", COMPLETE, ids=lambda block: block.id)
def test_a_complete_docs_snippet_runs_as_written(
    block: Block, environment: dict[str, str], tmp_path: Path
) -> None:
    # The files the page had the reader save before this block, then the block itself.
    earlier = [b for b in COMPLETE if b.page == block.page and b.line < block.line]
    for saved in [b for b in earlier if b.file_name]:
        write(tmp_path / str(saved.file_name), saved.code)
    path = block.file_name or f"snippet_line_{block.line}.py"
    write(tmp_path / path, block.code)
    module = path.removesuffix(".py").replace("/", ".")
    # A block of pytest tests is run by pytest, so its tests run too (not only their `def`).
    runner = (
        ["pytest", "-q", "-p", "no:cacheprovider", path]
        if TEST_FUNCTION.search(block.code)
        else [module]
    )
    result = subprocess.run(  # noqa: S603 -- our own interpreter and our own docs
        [sys.executable, "-W", "error", "-m", *runner],
        cwd=tmp_path,
        env={**environment, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{block.id} failed:\n{result.stderr[-3000:]}"


def write(path: Path, code: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code, encoding="utf-8")
