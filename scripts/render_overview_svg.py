"""Write `docs/assets/overview.svg`: the overview diagram of the docs' home page.

The diagram is drawn here, by hand, rather than by a diagram tool in the reader's browser, so
the documentation shows it offline and needs no script from the internet. Change the boxes or
arrows below and run:

    .venv/bin/python scripts/render_overview_svg.py

`tests/docs/test_overview_svg.py` checks the committed file is this script's output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import escape

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "assets" / "overview.svg"
WIDTH, HEIGHT = 1100, 340
LINE = 17  # px between text lines
CHAR = 6.6  # px per character of a 13 px label, to size label backgrounds

# (title, x, y, width, height)
FRAMES = [
    ("Hull", 10, 10, 200, 320),
    ("hull_customerio", 410, 10, 280, 320),
    ("Customer.io", 890, 10, 200, 320),
]
# name -> (x, y, width, height, lines)
BOXES = {
    "notifications": (25, 60, 170, 60, ["user:update", "notifications"]),
    "users": (25, 240, 170, 60, ["Hull users"]),
    "plan": (
        425,
        45,
        250,
        80,
        ["plan (pure rules):", "dedupe, decision table,", "attributes, events"],
    ),
    "engine": (425, 160, 250, 45, ["engine"]),
    "webhooks": (425, 250, 250, 50, ["webhook handler"]),
    "people": (905, 60, 170, 60, ["people, events,", "page views"]),
    "reporting": (905, 240, 170, 60, ["reporting webhooks"]),
}
# (from (x, y), to (x, y), label or None)
ARROWS = [
    ((195, 90), (425, 85), None),
    ((550, 125), (550, 160), None),
    ((675, 182), (905, 100), "identify / delete / events"),
    ((425, 190), (195, 255), "write-back (customerio/*)"),
    ((905, 275), (675, 275), None),
    ((425, 280), (195, 280), "Email Opened, ..."),
]

STYLE = """
    text { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
           font-size: 14px; fill: #1f2937; }
    .frame { fill: #f3f5f9; stroke: #9aa3b2; stroke-width: 1; }
    .frame-title { font-weight: bold; font-size: 15px; }
    .box { fill: #ffffff; stroke: #4051b5; stroke-width: 1.5; }
    .arrow { stroke: #374151; stroke-width: 1.5; fill: none; marker-end: url(#head); }
    .label { font-size: 13px; }
    .label-bg { fill: #ffffff; opacity: 0.92; }
"""


def _text(x: float, y: float, content: str, css: str = "", anchor: str = "middle") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}"{klass}>{escape(content)}</text>'


def render() -> str:
    """The SVG document, as text."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="title desc">',
        '<title id="title">How hull-customerio connects Hull and Customer.io</title>',
        '<desc id="desc">Hull user:update notifications are planned by pure rules and carried '
        "out by the engine, which identifies, deletes and sends events to Customer.io and writes "
        "the result back to the Hull users. Customer.io reporting webhooks go through the "
        "webhook handler and become events on the Hull users.</desc>",
        f"<style>{STYLE}</style>",
        '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#374151"/></marker></defs>',
    ]
    for title, x, y, width, height in FRAMES:
        parts.append(
            f'<rect class="frame" x="{x}" y="{y}" width="{width}" height="{height}" rx="8"/>'
        )
        parts.append(_text(x + 12, y + 22, title, "frame-title", anchor="start"))
    for x, y, width, height, lines in BOXES.values():
        parts.append(
            f'<rect class="box" x="{x}" y="{y}" width="{width}" height="{height}" rx="6"/>'
        )
        first = y + height / 2 - (len(lines) - 1) * LINE / 2 + 5
        parts.extend(_text(x + width / 2, first + i * LINE, line) for i, line in enumerate(lines))
    for (x1, y1), (x2, y2), label in ARROWS:
        parts.append(f'<line class="arrow" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
        if label:
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2 - (14 if y1 == y2 else 0)
            half = len(label) * CHAR / 2 + 4
            parts.append(
                f'<rect class="label-bg" x="{mx - half:g}" y="{my - 13:g}" '
                f'width="{2 * half:g}" height="18" rx="3"/>'
            )
            parts.append(_text(mx, my, label, "label"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> int:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
