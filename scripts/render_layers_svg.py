"""Draw the package's floors as ``docs/assets/layers.svg`` (the architecture page's picture).

``FLOORS`` lists the top-level modules and subpackages of ``hull_customerio`` from the ground
up; a module imports only from floors below its own (and, on its own floor, from nothing else
but itself). ``tests/docs/test_layers_svg.py`` checks both that the committed picture is this
script's output and that the import graph keeps to the floors.

    python scripts/render_layers_svg.py        # writes docs/assets/layers.svg
"""

from __future__ import annotations

from html import escape
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "assets" / "layers.svg"

#: (floor name, what it is for, its top-level modules), from the ground up.
FLOORS: list[tuple[str, str, list[str]]] = [
    (
        "basics",
        "errors, settings, time, JSON, retries, rate limits, HTTP transport, metrics",
        [
            "errors",
            "settings",
            "_serialization",
            "_time",
            "_http",
            "metrics",
            "redaction",
        ],
    ),
    ("models", "attrs values: messages, plans, reports", ["models"]),
    (
        "rules and clients",
        "pure rules (no I/O) beside the Customer.io and Hull clients (I/O); neither imports "
        "the other",
        ["rules", "customerio", "hull"],
    ),
    ("engine", "Connector / AsyncConnector: run the plans through the clients", ["engine"]),
    ("hub", "many connectors in one process: tenants, caches, batch downloads", ["hub"]),
    (
        "service and tools",
        "optional extras and front ends: the ASGI app, Celery, Redis limiter, CLI, fakes",
        ["server", "celery", "redis_limiter", "config", "manifest", "cli", "testing", "__main__"],
    ),
]
#: Modules of one floor that must not import each other (the rules stay free of I/O).
APART = [{"rules"}, {"customerio", "hull"}]

_WIDTH = 760
_FLOOR_HEIGHT = 62
_GAP = 14


def render() -> str:
    """The SVG text, top floor first (as a building is read)."""
    height = len(FLOORS) * (_FLOOR_HEIGHT + _GAP) + _GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" font-family="sans-serif" role="img" '
        'aria-label="The floors of hull_customerio: each imports only from below">',
        "<title>The floors of hull_customerio: each imports only from below</title>",
    ]
    for row, (name, purpose, modules) in enumerate(reversed(FLOORS)):
        y = _GAP + row * (_FLOOR_HEIGHT + _GAP)
        shade = 245 - 12 * (len(FLOORS) - 1 - row)
        parts.append(
            f'<rect x="10" y="{y}" width="{_WIDTH - 20}" height="{_FLOOR_HEIGHT}" rx="6" '
            f'fill="rgb({shade},{shade},255)" stroke="#446"/>'
        )
        parts.append(
            f'<text x="24" y="{y + 22}" font-size="15" font-weight="bold">{escape(name)}</text>'
        )
        parts.append(
            f'<text x="200" y="{y + 22}" font-size="12" fill="#333">{escape(purpose)}</text>'
        )
        parts.append(
            f'<text x="24" y="{y + 46}" font-size="12" font-family="monospace" fill="#224">'
            f"{escape('  '.join(modules))}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
