"""The docs' overview diagram is a committed SVG (shown offline, no script from the internet),
and it is exactly what `scripts/render_overview_svg.py` draws."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from script_support import load_script

ROOT = Path(__file__).resolve().parents[2]
SVG = ROOT / "docs" / "assets" / "overview.svg"


def test_the_committed_svg_is_the_scripts_output() -> None:
    assert SVG.read_text(encoding="utf-8") == load_script("render_overview_svg").render(), (
        "docs/assets/overview.svg is stale: run scripts/render_overview_svg.py"
    )


def test_the_svg_is_well_formed_and_carries_every_label() -> None:
    root = ET.fromstring(SVG.read_text(encoding="utf-8"))  # noqa: S314 -- our own file
    texts = {
        element.text for element in root.iter("{http://www.w3.org/2000/svg}text") if element.text
    }
    assert {
        "Hull",
        "hull_customerio",
        "Customer.io",
        "engine",
        "webhook handler",
        "Hull users",
        "reporting webhooks",
        "identify / delete / events",
        "write-back (customerio/*)",
    } <= texts
    assert root.find("{http://www.w3.org/2000/svg}title") is not None


def test_the_home_page_shows_the_svg_and_no_mermaid_source() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert "](assets/overview.svg)" in index
    assert "```mermaid" not in index
