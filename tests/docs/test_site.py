"""The built documentation stands alone: no raw Sphinx roles, no spec citations, no diagram
that needs a script from the internet.

PENDING: this file is not collected yet (its name does not start with ``test_``). The API
reference renders the docstrings of ``src/``, which still hold Sphinx roles and spec citations
while other branches edit them. After merging, run::

    .venv/bin/python scripts/fix_docstring_roles.py

then rename this file to ``tests/docs/test_site.py`` (``git mv``); it must pass from then on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAW_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|mod|exc|obj|const):(?:<code>|`)")
CITATION = re.compile(r"SPEC\s*§|§\s?\d")


def test_the_built_site_has_no_raw_roles_no_spec_citations_and_no_mermaid(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    result = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    problems = []
    for page in pages:
        html = page.read_text(encoding="utf-8")
        name = page.relative_to(site)
        problems += [f"{name}: raw role {m[0]!r}" for m in RAW_ROLE.finditer(html)]
        problems += [f"{name}: spec citation {m[0]!r}" for m in CITATION.finditer(html)]
        if 'class="mermaid"' in html:
            problems.append(f"{name}: a mermaid diagram (needs a script from the internet)")
    assert problems == []
