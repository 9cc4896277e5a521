"""Rewrite Sphinx roles and spec citations so the docs stand alone.

The API reference is rendered by mkdocstrings, which shows Sphinx roles (``:class:`X```,
``:meth:`X```...) as raw text, and readers do not have the spec that "SPEC §2.4" cites. This
script rewrites, in place:

- each role into a mkdocstrings cross-reference, ``[`Name`][hull_customerio.Name]``, when its
  target is rendered in the docs (an object named by a ``:::`` line under ``docs/``, or a
  documented public member of one); into plain code, ``Name``, otherwise (and always in
  ``#`` comments);
- each spec citation into nothing or plain words: a parenthetical citation is removed
  (``(SPEC §2.4)``, ``(SPEC §4.2-§4.5)``, ``(§2.3)``), the citation part of a longer
  parenthetical is dropped (``(SPEC §2.2, first rule wins)`` → ``(first rule wins)``), a
  comment that starts with one loses it (``#: SPEC §6.3: the statuses`` → ``#: The
  statuses``); the few other phrasings are listed in ``REWRITES``.

What it cannot rewrite is listed, and the exit status is 1 then.

Usage (from the repository root, with the project installed in ``.venv``)::

    .venv/bin/python scripts/fix_docstring_roles.py          # src/, docs/, README, CHANGELOG
    .venv/bin/python scripts/fix_docstring_roles.py --check  # only list what would change
    .venv/bin/python scripts/fix_docstring_roles.py src/hull_customerio/rules

Then run ruff (a rewritten line may need re-wrapping), mypy and ``mkdocs build --strict``.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
DOCS = ROOT / "docs"
DEFAULT_PATHS = [SRC / "hull_customerio", DOCS, ROOT / "README.md", ROOT / "CHANGELOG.md"]

ROLE = re.compile(
    r":(?:py:)?(?P<kind>class|meth|func|attr|data|mod|exc|obj|const):`(?P<target>[^`]+)`"
)
_REF = r"§\s?\d+(?:\.\d+)*(?:\s?[-\u2013]\s?§?\s?\d+(?:\.\d+)*)?"  # hyphen or en dash
REFS = rf"{_REF}(?:\s?(?:,|/|and|&)\s?{_REF})*"
# "(SPEC §2.4)", "(SPEC §2.2 decision table, §2.3-§2.7, §3)", "(§2.3)", "(`x`, SPEC §1)"...
PARENTHETICAL = re.compile(
    r"(?P<lead>\n[ \t]*|[ \t]*)\((?P<inside>[^()]*?§[^()]*?)\)(?P<after>[,;:.][ \t]?)?"
)
# "#: SPEC §6.3: the statuses" / "# SPEC §5.2 / issue 4: Hull's firehose"
COMMENT_PREFIX = re.compile(rf"^(?P<lead>\s*#:?\s*)SPEC\s{REFS}(?:\s*/\s*[^:]+)?:\s*(?P<first>\S)")
CITATION = re.compile(rf"^(?:SPEC\s)?{REFS}(?:\s+[\w\- ]+)?$")
# Phrasings the rules above cannot turn into words; exact text -> replacement.
REWRITES = {
    "in the key order of §2.3 (without": "in the order listed below (without",
    "(the key is not in the SPEC §4.3 table; the message quotes it)": (
        "(the key is not one Customer.io documents; the message quotes it)"
    ),
}


def rendered_identifiers(docs: Path = DOCS) -> list[str]:
    """Every identifier a ``:::`` line renders in the docs."""
    return [
        line[3:].strip().split()[0]
        for page in sorted(docs.rglob("*.md"))
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith(":::")
    ]


def resolve(path: str) -> Any:
    """The object a dotted path names, or ``None``."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def _documented_member(owner: Any, name: str) -> bool:
    if name.startswith("_"):
        return False
    member = inspect.getattr_static(owner, name, None)
    if member is None:
        return False
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if isinstance(member, property):
        member = member.fget
    return bool(getattr(member, "__doc__", None)) and (
        inspect.isfunction(member) or inspect.isclass(member) or inspect.isroutine(member)
    )


class Linker:
    """Finds the rendered anchor of a role's target."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        self.anchors: dict[int, str] = {}
        for identifier in identifiers:
            obj = resolve(identifier)
            if obj is None:
                continue
            self.anchors.setdefault(id(obj), identifier)
            if inspect.ismodule(obj):
                for name in getattr(obj, "__all__", ()):
                    member = getattr(obj, name, None)
                    if member is not None and getattr(member, "__doc__", None):
                        self.anchors.setdefault(id(member), f"{identifier}.{name}")

    def anchor(self, target: str, module: str | None, kind: str = "obj") -> str | None:
        candidates = [target] if target.startswith("hull_customerio") else []
        candidates.append(f"hull_customerio.{target}")
        if module:
            candidates.append(f"{module}.{target}")
            candidates.append(f"{module.rsplit('.', 1)[0]}.{target}")
        for candidate in candidates:
            obj = resolve(candidate)
            if obj is not None and not _fits(kind, obj):
                continue
            if obj is not None and id(obj) in self.anchors and not _is_plain_value(obj):
                return self.anchors[id(obj)]
            owner_path, _, name = candidate.rpartition(".")
            owner = resolve(owner_path) if owner_path else None
            if (
                owner is not None
                and inspect.isclass(owner)
                and id(owner) in self.anchors
                and _documented_member(owner, name)
            ):
                return f"{self.anchors[id(owner)]}.{name}"
        return None


def _fits(kind: str, obj: Any) -> bool:
    """Whether the object is of the kind the role names (a :class: role never links a module)."""
    if kind == "mod":
        return inspect.ismodule(obj)
    if inspect.ismodule(obj):
        return False
    if kind in ("class", "exc"):
        return inspect.isclass(obj)
    if kind in ("meth", "func"):
        return callable(obj) and not inspect.isclass(obj)
    return True


def _is_plain_value(obj: Any) -> bool:
    # Small ints and strings are shared objects: their id says nothing about the name.
    return isinstance(obj, (int, float, str, bytes, bool, type(None)))


def rewrite_roles(text: str, linker: Linker, module: str | None) -> str:
    def replace(match: re.Match[str]) -> str:
        line_start = text.rfind("\n", 0, match.start()) + 1
        in_comment = text[line_start : match.start()].lstrip().startswith("#")
        raw = " ".join(match["target"].split())
        title = None
        explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", raw)
        if explicit:
            title, raw = explicit["title"], explicit["target"]
        short = raw.startswith("~")
        target = raw.lstrip("~").lstrip(".")
        shown = title or (target.rsplit(".", 1)[-1] if short else target)
        if title is None and not short and shown.startswith("hull_customerio."):
            shown = shown[len("hull_customerio.") :]
        anchor = None if in_comment else linker.anchor(target, module, match["kind"])
        if anchor is None:
            return f"`{shown}`"
        return f"[`{shown}`][{anchor}]"

    return ROLE.sub(replace, text)


def rewrite_citations(text: str) -> str:
    for old, new in REWRITES.items():
        text = text.replace(old, new)

    def parenthetical(match: re.Match[str]) -> str:
        inside, lead, after = match["inside"], match["lead"], match["after"] or ""
        parts = [part.strip() for part in re.split(r",\s*|;\s*", inside)]
        kept = [part for part in parts if part and not CITATION.match(part)]
        if len(kept) == len(parts):
            return match[0]  # a § we do not understand: leave it for a human
        if kept:
            return f"{lead}({', '.join(kept)}){after}"
        if lead.startswith("\n"):
            # Removed from the start of a wrapped line: its punctuation goes up a line.
            return f"{after.strip()}{lead}"
        return after

    text = PARENTHETICAL.sub(parenthetical, text)
    lines = []
    for line in text.splitlines(keepends=True):
        match = COMMENT_PREFIX.match(line)
        lines.append(
            f"{match['lead']}{match['first'].upper()}{line[match.end() :]}" if match else line
        )
    return "".join(lines)


MAX_LINE = 100
ARGUMENT = re.compile(r"^[\w*]+(?: \([^)]*\))?: ")


def _break_at(text: str, limit: int) -> int | None:
    """The last space before `limit` outside a code span, or None."""
    best = None
    ticks = 0
    for index, char in enumerate(text[:limit]):
        if char == "`":
            ticks += 1
        elif char == " " and ticks % 2 == 0 and index > 0:
            best = index
    return best


def _fill(words: list[str], first: str, follow: str) -> list[str]:
    """Lay words out in lines of at most MAX_LINE: the first indented `first`, the rest `follow`."""
    lines: list[str] = []
    current = first
    for word in words:
        candidate = current + word if not current.strip() else f"{current} {word}"
        if current.strip() and len(candidate) > MAX_LINE:
            lines.append(current + "\n")
            current = follow + word
        else:
            current = candidate
    lines.append(current + "\n")
    return lines


def _words(text: str) -> list[str]:
    """Split at spaces outside code spans (a code span stays one word)."""
    words: list[str] = []
    current = ""
    ticks = 0
    for char in text:
        if char == "`":
            ticks += 1
        if char == " " and ticks % 2 == 0:
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    if current:
        words.append(current)
    return words


def _continues(line: str, follow: str) -> bool:
    """Whether `line` continues the paragraph whose wrapped lines are indented `follow`."""
    body = line.rstrip("\n")
    stripped = body.strip()
    indent = body[: len(body) - len(body.lstrip())]
    return (
        bool(stripped)
        and indent == follow
        and not stripped.startswith(('"""', "```", "- ", "* ", "#", ">>>", "|"))
        and not ARGUMENT.match(stripped)
        and not re.fullmatch(r"[\w ]+:", stripped)
    )


def _in_section(lines: list[str], index: int, indent: str) -> bool:
    """Whether line `index` is an item of a Google-style section (`Args:`, `Raises:`...)."""
    for previous in reversed(lines[:index]):
        body = previous.rstrip("\n")
        if not body.strip():
            continue
        if len(body) - len(body.lstrip()) < len(indent):
            return bool(re.fullmatch(r"\s*[A-Z][\w ]*:", body))
    return False


def rewrap(before: str, after: str) -> str:
    """Reflow the paragraphs whose lines the rewrite made too long (only those)."""
    original = set(before.splitlines())
    lines = after.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        body = line.rstrip("\n")
        if body in original or len(body) <= MAX_LINE or body.lstrip().startswith("#"):
            out.append(line)
            index += 1
            continue
        indent = body[: len(body) - len(body.lstrip())]
        stripped = body.lstrip()
        item = ARGUMENT.match(stripped) and _in_section(lines, index, indent)
        follow = indent + "    " if item else indent
        paragraph = [stripped]
        index += 1
        # A paragraph ends with its docstring: code after the closing quotes is never joined.
        while (
            index < len(lines)
            and '"""' not in paragraph[-1][3:]
            and not (len(paragraph) == 1 and stripped.endswith('"""'))
            and _continues(lines[index], follow)
        ):
            paragraph.append(lines[index].strip())
            index += 1
        out.extend(_fill(_words(" ".join(paragraph)), indent, follow))
    return "".join(out)


def module_name(path: Path) -> str | None:
    try:
        relative = path.relative_to(SRC)
    except ValueError:
        return None
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rewrite(text: str, linker: Linker, module: str | None) -> str:
    return rewrite_roles(rewrite_citations(text), linker, module)


def files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".py", ".md"))
        elif path.exists():
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: all)")
    parser.add_argument("--check", action="store_true", help="only show what would change")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(SRC))
    linker = Linker(rendered_identifiers())
    changed = 0
    remaining: list[str] = []
    for path in files(args.paths or DEFAULT_PATHS):
        before = path.read_text(encoding="utf-8")
        after = rewrite(before, linker, module_name(path.resolve()))
        if path.suffix == ".py":
            after = rewrap(before, after)
        original = set(before.splitlines())
        remaining += [
            f"{path.relative_to(ROOT)}: {line}"
            for line in after.splitlines()
            if "§" in line
            or ROLE.search(line)
            or (
                path.suffix == ".py"
                and len(line) > MAX_LINE
                and line not in original
                and " " in line.strip()  # ruff lets a line of one long word (a link) be
            )
        ]
        if after == before:
            continue
        changed += 1
        if args.check:
            sys.stdout.writelines(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    str(path.relative_to(ROOT)),
                    str(path.relative_to(ROOT)),
                )
            )
        else:
            path.write_text(after, encoding="utf-8")
    verb = "would change" if args.check else "changed"
    print(f"{verb} {changed} file(s)", file=sys.stderr)
    if remaining:
        print("left for a human to rewrite:", file=sys.stderr)
        for line in remaining:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
