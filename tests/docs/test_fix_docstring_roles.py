"""scripts/fix_docstring_roles.py turns Sphinx roles and spec citations into plain docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from script_support import load_script

ROOT = Path(__file__).resolve().parents[2]


fix = load_script("fix_docstring_roles")
LINKER = fix.Linker(
    ["hull_customerio.Connector", "hull_customerio.errors", "hull_customerio.Settings"]
)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('"""Change detection (SPEC §2.6)."""', '"""Change detection."""'),
        ("a stable code for why (SPEC §2.2), e.g. x", "a stable code for why, e.g. x"),
        ("(SPEC §2.2, first rule wins).", "(first rule wins)."),
        ("plans (SPEC §2.2 decision table, §2.3-§2.7, §3).", "plans."),
        ("never raised (SPEC §4.2\u2013§4.5)", "never raised"),  # an en dash
        ("the names sent (§2.3).", "the names sent."),
        (
            "- **Settings** (`Settings.from_private_settings`, SPEC §1): every",
            "- **Settings** (`Settings.from_private_settings`): every",
        ),
        ("#: SPEC §6.3: the statuses Customer.io asks", "#: The statuses Customer.io asks"),
        ("#: SPEC §5.2 / issue 4: Hull's firehose", "#: Hull's firehose"),
        ("batch bodies\n(SPEC §5.2), the queue", "batch bodies,\nthe queue"),
        ("a (soft) rate", "a (soft) rate"),
    ],
)
def test_spec_citations_become_plain_words(before: str, after: str) -> None:
    assert fix.rewrite_citations(before) == after


def test_a_citation_it_cannot_rewrite_is_left_for_a_human() -> None:
    text = "(the SPEC §9.9 table is odd)"
    assert fix.rewrite_citations(text) == text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (":class:`Connector`", "[`Connector`][hull_customerio.Connector]"),
        (":class:`~hull_customerio.Connector`", "[`Connector`][hull_customerio.Connector]"),
        (
            ":meth:`hull_customerio.Connector.handle_webhook`",
            "[`Connector.handle_webhook`][hull_customerio.Connector.handle_webhook]",
        ),
        (
            ":class:`~hull_customerio.errors.APIError`",
            "[`APIError`][hull_customerio.errors.APIError]",
        ),
        (
            ":meth:`Settings.from_private_settings`",
            "[`Settings.from_private_settings`][hull_customerio.Settings.from_private_settings]",
        ),
        (":meth:`close`", "`close`"),
        (":attr:`errors`", "`errors`"),  # a name, not the errors module
        (":mod:`._core`", "`_core`"),
        (":func:`asyncio.sleep`", "`asyncio.sleep`"),
        (
            ":meth:`CustomerIOClient.batch\n    <hull_customerio.Connector.check_status>`",
            "[`CustomerIOClient.batch`][hull_customerio.Connector.check_status]",
        ),
        ("# see :class:`Connector`", "# see `Connector`"),
    ],
)
def test_roles_become_cross_references_or_code(before: str, after: str) -> None:
    assert fix.rewrite_roles(before, LINKER, "hull_customerio.engine.connector") == after


def test_a_role_to_an_object_the_docs_do_not_render_becomes_code() -> None:
    assert fix.rewrite_roles(":class:`HullClient`", LINKER, None) == "`HullClient`"


def test_lines_the_rewrite_made_too_long_are_reflowed_within_their_docstring() -> None:
    before = (
        "    def f(self) -> None:\n"
        '        """Handle it; see :meth:`hull_customerio.Connector.handle_notification` now."""\n'
        "        return None\n"
    )
    after = fix.rewrap(before, fix.rewrite(before, LINKER, None))
    assert after == (
        "    def f(self) -> None:\n"
        '        """Handle it; see\n'
        "        [`Connector.handle_notification`][hull_customerio.Connector.handle_notification]"
        ' now."""\n'
        "        return None\n"
    )
    assert all(len(line) <= 100 for line in after.splitlines())


def test_an_argument_keeps_its_hanging_indent_when_reflowed() -> None:
    before = (
        '    """Do it.\n'
        "\n"
        "    Args:\n"
        "        tolerance: as in :func:`hull_customerio.Connector.check_status`, which is a long"
        " name\n"
        "            indeed.\n"
        '    """\n'
    )
    after = fix.rewrap(before, fix.rewrite(before, LINKER, None)).splitlines()
    assert after[3].startswith("        tolerance: as in [`Connector.check_status`]")
    assert after[4].startswith("            ")
    assert all(len(line) <= 100 for line in after)
