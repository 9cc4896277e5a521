"""The architecture page's picture of the floors is true: the committed SVG is what
`scripts/render_layers_svg.py` draws, and the import graph keeps to its floors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from script_support import load_script

ROOT = Path(__file__).resolve().parents[2]


layers = load_script("render_layers_svg")
cycles = load_script("import_cycles")


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _arrows_between_top_modules() -> set[tuple[str, str]]:
    graph = cycles.import_graph(cycles.module_names(ROOT / "src"))
    return {
        (_top(source), _top(target))
        for source, targets in graph.items()
        for target in targets
        if _top(source) and _top(target) and _top(source) != _top(target)
    }


def test_the_committed_svg_is_the_scripts_output() -> None:
    assert layers.OUT.read_text(encoding="utf-8") == layers.render(), (
        "docs/assets/layers.svg is stale: run scripts/render_layers_svg.py"
    )
    ET.fromstring(layers.OUT.read_text(encoding="utf-8"))  # noqa: S314 -- our own file


def test_every_top_level_module_is_on_one_floor() -> None:
    placed = [module for _, _, modules in layers.FLOORS for module in modules]
    assert len(placed) == len(set(placed))
    found = {_top(name) for name in cycles.module_names(ROOT / "src")} - {""}
    assert found == set(placed)


def test_every_import_goes_down_a_floor() -> None:
    floor = {module: n for n, (_, _, modules) in enumerate(layers.FLOORS) for module in modules}
    apart = [(a, b) for group_a in layers.APART for group_b in layers.APART
             if group_a is not group_b for a in group_a for b in group_b]  # fmt: skip
    wrong = [
        (source, target)
        for source, target in sorted(_arrows_between_top_modules())
        if floor[target] > floor[source]
        or (floor[target] == floor[source] and (source, target) in apart)
        or (floor[target] == floor[source] and floor[source] < len(layers.FLOORS) - 1
            and layers.FLOORS[floor[source]][0] != "basics")
    ]  # fmt: skip
    assert wrong == []


def test_the_check_sees_an_arrow_going_up() -> None:
    arrows = _arrows_between_top_modules()
    assert ("engine", "customerio") in arrows  # the check reads real arrows...
    floor = {module: n for n, (_, _, modules) in enumerate(layers.FLOORS) for module in modules}
    assert floor["customerio"] < floor["engine"]  # ...and this one goes down
