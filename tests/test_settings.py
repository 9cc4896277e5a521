"""SPEC §1: settings read from Hull's ``private_settings``."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from hull_customerio.errors import ConfigurationError
from hull_customerio.settings import Settings

read = Settings.from_private_settings


def problems_of(mapping: Any) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        read(mapping)
    return caught.value.problems


def test_the_defaults() -> None:
    settings = read({})

    assert attrs.asdict(settings) == {
        "site_id": None,
        "api_key": None,
        "region": "us",
        "synchronized_segments": (),
        "synchronized_attributes": (),
        "user_id_mapping": "external_id",
        "enable_user_deletion": False,
        "events_filter": (),
        "anonymous_events": False,
        "max_attributes_per_call": 30,
        "max_attribute_name_length": 150,
        "max_attribute_value_length": 1000,
        "max_identifier_value_length": 150,
        "max_attributes_per_person": 300,
        "max_event_name_length": 100,
        "max_event_data_size": 100_000,
        "webhook_signing_key": None,
        "synchronized_account_segments": (),
        "synchronized_account_attributes": (),
        "account_id_mapping": "external_id",
        "object_type_id": "1",
        "link_users_to_accounts": True,
        "enable_account_deletion": False,
    }
    assert settings == Settings()


def test_every_key_is_read() -> None:
    settings = read(
        {
            "site_id": "site-1",
            "api_key": "key-1",
            "region": "eu",
            "synchronized_segments": ["seg_1", "seg_2"],
            "synchronized_attributes": ["first_name", "account.name"],
            "user_id_mapping": "email",
            "enable_user_deletion": True,
            "events_filter": ["Signed Up", "page"],
            "anonymous_events": True,
            "max_attributes_per_call": 300,
            "max_attribute_name_length": 100,
            "max_attribute_value_length": 500,
            "max_identifier_value_length": 80,
            "max_attributes_per_person": 120,
            "max_event_name_length": 64,
            "max_event_data_size": "5000",
            "webhook_signing_key": "signing-1",
        }
    )

    assert settings == Settings(
        site_id="site-1",
        api_key="key-1",
        region="eu",
        synchronized_segments=("seg_1", "seg_2"),
        synchronized_attributes=("first_name", "account.name"),
        user_id_mapping="email",
        enable_user_deletion=True,
        events_filter=("Signed Up", "page"),
        anonymous_events=True,
        max_attributes_per_call=300,
        max_attribute_name_length=100,
        max_attribute_value_length=500,
        max_identifier_value_length=80,
        max_attributes_per_person=120,
        max_event_name_length=64,
        max_event_data_size=5000,
        webhook_signing_key="signing-1",
    )


def test_unknown_keys_are_ignored() -> None:
    assert read({"unknown": object(), "legacy_setting": [1]}) == Settings()


def test_null_values_take_the_default() -> None:
    mapping = dict.fromkeys(attrs.fields_dict(Settings))

    assert read(mapping) == Settings()


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("site_id", 123, "site_id must be a string, got a number"),
        ("api_key", ["k"], "api_key must be a string, got a list"),
        ("webhook_signing_key", True, "webhook_signing_key must be a string, got a boolean"),
        ("region", "asia", "region must be one of 'us', 'eu', 'auto', got 'asia'"),
        ("region", 1, "region must be a string, got a number"),
        ("synchronized_segments", "seg_1",
         "synchronized_segments must be a list of strings, got a string"),
        ("synchronized_segments", ["seg_1", 2, None],
         "synchronized_segments must be a list of strings; item(s) [1, 2] are not strings"),
        ("synchronized_attributes", {"a": 1},
         "synchronized_attributes must be a list of strings, got an object"),
        ("events_filter", [["page"]], "events_filter must be a list of strings; item(s) [0] are "
         "not strings"),
        ("user_id_mapping", 5, "user_id_mapping must be a string, got a number"),
        ("user_id_mapping", "  ",
         "user_id_mapping must name a Hull attribute, got an empty string"),
        ("enable_user_deletion", "true",
         "enable_user_deletion must be true or false, got a string"),
        ("anonymous_events", 1, "anonymous_events must be true or false, got a number"),
        ("max_attributes_per_call", "thirty",
         "max_attributes_per_call must be a whole number, got 'thirty'"),
        ("max_attributes_per_call", 30.5,
         "max_attributes_per_call must be a whole number, got 30.5"),
        ("max_attributes_per_call", True,
         "max_attributes_per_call must be a whole number, got a boolean"),
        ("max_attributes_per_call", [30],
         "max_attributes_per_call must be a whole number, got a list"),
        ("max_attribute_name_length", "",
         "max_attribute_name_length must be a whole number, got ''"),
        ("max_attribute_value_length", float("nan"),
         "max_attribute_value_length must be a whole number, got nan"),
        ("max_identifier_value_length", "inf",
         "max_identifier_value_length must be a whole number, got 'inf'"),
    ],
)  # fmt: skip
def test_a_wrong_type_is_a_configuration_error_naming_the_key(
    key: str, value: object, problem: str
) -> None:
    assert problems_of({key: value}) == [problem]


NUMERIC_KEYS = (
    "max_attributes_per_call",
    "max_attribute_name_length",
    "max_attribute_value_length",
    "max_identifier_value_length",
    "max_attributes_per_person",
    "max_event_name_length",
    "max_event_data_size",
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("45", 45), (" 45 ", 45), ("45.0", 45), (45.0, 45), ("1e2", 100), (7, 7)],
)
def test_numeric_settings_accept_numeric_strings(value: object, expected: int) -> None:
    settings = read(dict.fromkeys(NUMERIC_KEYS, value))

    assert settings.max_attributes_per_call == expected
    assert settings.max_attribute_name_length == expected
    assert settings.max_attribute_value_length == expected
    assert settings.max_identifier_value_length == expected
    assert settings.max_attributes_per_person == expected
    assert settings.max_event_name_length == expected
    assert settings.max_event_data_size == expected
    assert type(settings.max_attributes_per_call) is int
    assert type(settings.max_event_data_size) is int


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (300, 300), ("1", 1), ("300", 300)])
def test_max_attributes_per_call_may_be_1_to_300(value: object, expected: int) -> None:
    assert read({"max_attributes_per_call": value}).max_attributes_per_call == expected


@pytest.mark.parametrize("value", [0, 301, -1, "0", "301"])
def test_max_attributes_per_call_outside_1_to_300_is_an_error(value: object) -> None:
    number = int(value)

    assert problems_of({"max_attributes_per_call": value}) == [
        f"max_attributes_per_call must be from 1 to 300, got {number}"
    ]


@pytest.mark.parametrize(
    "key",
    [
        "max_attribute_name_length",
        "max_attribute_value_length",
        "max_identifier_value_length",
        "max_attributes_per_person",
        "max_event_name_length",
        "max_event_data_size",
    ],
)
def test_length_limits_must_be_at_least_1(key: str) -> None:
    assert problems_of({key: 0}) == [f"{key} must be at least 1, got 0"]
    assert getattr(read({key: 1}), key) == 1
    assert getattr(read({key: 100_000}), key) == 100_000


@pytest.mark.parametrize(("value", "expected"), [("us", "us"), ("eu", "eu"), ("auto", "auto"),
                                                 ("EU", "eu"), (" auto ", "auto")])  # fmt: skip
def test_the_region(value: str, expected: str) -> None:
    assert read({"region": value}).region == expected


def test_every_problem_is_listed_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        read(
            {
                "site_id": 1,
                "region": "mars",
                "synchronized_segments": "seg_1",
                "enable_user_deletion": "yes",
                "max_attributes_per_call": 500,
            }
        )

    problems = [
        "site_id must be a string, got a number",
        "region must be one of 'us', 'eu', 'auto', got 'mars'",
        "synchronized_segments must be a list of strings, got a string",
        "enable_user_deletion must be true or false, got a string",
        "max_attributes_per_call must be from 1 to 300, got 500",
    ]
    assert caught.value.problems == problems
    assert str(caught.value) == "Invalid settings:\n" + "\n".join(f"- {p}" for p in problems)


def test_one_problem_reads_as_one_line() -> None:
    with pytest.raises(ConfigurationError) as caught:
        read({"site_id": 1})

    assert str(caught.value) == "Invalid settings: site_id must be a string, got a number"


@pytest.mark.parametrize("mapping", [None, [], "site_id=1", 5])
def test_private_settings_must_be_an_object(mapping: object) -> None:
    assert len(problems_of(mapping)) == 1
    assert problems_of(mapping)[0].startswith("private_settings must be an object, got ")


def test_secrets_are_never_in_the_repr() -> None:
    settings = read({"site_id": "site-visible", "api_key": "sk-hidden-1",
                     "webhook_signing_key": "whsec-hidden-2"})  # fmt: skip

    text = repr(settings)

    assert "sk-hidden-1" not in text
    assert "whsec-hidden-2" not in text
    assert "api_key='***'" in text
    assert "webhook_signing_key='***'" in text
    assert "site-visible" in text


def test_unset_secrets_show_as_none() -> None:
    assert "api_key=None" in repr(Settings())


def test_problems_never_quote_secret_values() -> None:
    # A wrong type is described by its kind, never by its value.
    problems = problems_of({"api_key": 123456789, "webhook_signing_key": ["whsec-hidden"]})

    assert "123456789" not in " ".join(problems)
    assert "whsec-hidden" not in " ".join(problems)


def test_settings_are_immutable() -> None:
    settings = Settings()

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.site_id = "changed"  # type: ignore[misc]


def test_lists_become_tuples() -> None:
    settings = Settings(synchronized_segments=["a"], events_filter=["page"])

    assert settings.synchronized_segments == ("a",)
    assert settings.events_filter == ("page",)


@pytest.mark.parametrize(
    ("site_id", "api_key", "expected"),
    [("s", "k", True), (None, "k", False), ("s", None, False), (" ", "k", False), ("s", "", False)],
)
def test_has_credentials(site_id: str | None, api_key: str | None, expected: bool) -> None:
    assert Settings(site_id=site_id, api_key=api_key).has_credentials is expected


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"max_attributes_per_call": 0}, "max_attributes_per_call must be from 1 to 300, got 0"),
        (
            {"max_attributes_per_call": 301},
            "max_attributes_per_call must be from 1 to 300, got 301",
        ),
        ({"max_attribute_value_length": 0}, "max_attribute_value_length must be at least 1, got 0"),
        ({"region": "mars"}, "region must be one of 'us', 'eu', 'auto', got 'mars'"),
    ],
)
def test_the_constructor_checks_the_same_bounds(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings(**changes)
    assert caught.value.problems == [problem]


def test_the_constructor_accepts_the_bounds_themselves() -> None:
    assert Settings(max_attributes_per_call=1).max_attributes_per_call == 1
    assert Settings(max_attributes_per_call=300).max_attributes_per_call == 300


# --- the constructor applies the rules of from_private_settings (SPEC §1, issue 11) -----------

BUILDERS = {"constructor": lambda values: Settings(**values), "from_private_settings": read}


def constructor_problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        Settings(**values)
    return caught.value.problems


@pytest.mark.parametrize(
    "key", ["synchronized_segments", "synchronized_attributes", "events_filter"]
)
def test_the_constructor_refuses_a_string_for_a_list_instead_of_splitting_it(key: str) -> None:
    assert constructor_problems({key: "abc"}) == [f"{key} must be a list of strings, got a string"]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"site_id": 5}, "site_id must be a string, got a number"),
        ({"api_key": ["k"]}, "api_key must be a string, got a list"),
        ({"webhook_signing_key": True}, "webhook_signing_key must be a string, got a boolean"),
        (
            {"enable_user_deletion": "yes"},
            "enable_user_deletion must be true or false, got a string",
        ),
        (
            {"max_attributes_per_call": True},
            "max_attributes_per_call must be a whole number, got a boolean",
        ),
        (
            {"max_attributes_per_call": float("nan")},
            "max_attributes_per_call must be a whole number, got nan",
        ),
        (
            {"user_id_mapping": " "},
            "user_id_mapping must name a Hull attribute, got an empty string",
        ),
        ({"region": None}, "region must be a string, got null"),
    ],
)
def test_the_constructor_refuses_what_from_private_settings_refuses(
    values: dict[str, Any], problem: str
) -> None:
    assert constructor_problems(values) == [problem]
    if next(iter(values.values())) is not None:  # None means "the default" in Hull's settings
        assert problems_of(values) == [problem]


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_numeric_strings_are_read_as_numbers_by_both(builder: str) -> None:
    settings = BUILDERS[builder](
        {"max_attributes_per_call": " 12 ", "max_attribute_value_length": "2e3"}
    )

    assert settings.max_attributes_per_call == 12
    assert settings.max_attribute_value_length == 2000


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_the_constructor_normalises_like_from_private_settings(builder: str) -> None:
    settings = BUILDERS[builder]({"region": " EU ", "user_id_mapping": " email "})

    assert (settings.region, settings.user_id_mapping) == ("eu", "email")


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_million_bad_items_make_a_short_message(builder: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        BUILDERS[builder]({"events_filter": [1] * 1_000_000})

    assert caught.value.problems == [
        "events_filter must be a list of strings; item(s) [0, 1, 2, ... (1000000 in all)] are "
        "not strings"
    ]


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@pytest.mark.parametrize(
    "value", ["x" * 1_000_000, "9" * 100_000], ids=["megabyte-string", "100k-digit-string"]
)
def test_a_huge_value_is_never_echoed(builder: str, value: str) -> None:
    for key in ("region", "max_attributes_per_call"):
        with pytest.raises(ConfigurationError) as caught:
            BUILDERS[builder]({key: value})
        assert key in str(caught.value)
        assert len(str(caught.value)) < 200


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_number_past_2_to_the_53_is_refused(builder: str) -> None:
    assert BUILDERS[builder]({"max_attribute_value_length": 2**53 - 1})
    with pytest.raises(ConfigurationError) as caught:
        BUILDERS[builder]({"max_attribute_value_length": 2**53})
    assert caught.value.problems == [
        "max_attribute_value_length must be at most 9007199254740991, got 9007199254740992"
    ]


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_text_that_is_not_valid_unicode_is_refused(builder: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        BUILDERS[builder]({"site_id": "\ud800", "synchronized_segments": ["ok", "\udfff"]})

    assert caught.value.problems == [
        "site_id must be a string of valid Unicode text",
        "synchronized_segments must be a list of strings; item(s) [1] are not strings",
    ]


# ---------------------------------------------------------------------------------------------
# Account settings (SPEC §11, issue 24)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", "1"),
        (" 12 ", "12"),  # spaces stripped
        ("\t7\n", "7"),
        (1, "1"),
        (42, "42"),
        ("9" * 18, "9" * 18),
    ],
)
@pytest.mark.parametrize("builder", ["constructor", "private_settings"])
def test_object_type_id_is_a_positive_whole_number_kept_as_text(
    builder: str, value: object, expected: str
) -> None:
    made = build(builder, value)
    assert made.object_type_id == expected


def build(builder: str, object_type_id: object) -> Settings:
    if builder == "constructor":
        return Settings(object_type_id=object_type_id)  # type: ignore[arg-type]
    return read({"object_type_id": object_type_id})


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0", "'0'"),
        (0, "0"),
        (-1, "-1"),
        ("-1", "'-1'"),
        ("01", "'01'"),  # another type than "1" for Customer.io: refused, not normalised
        ("1.0", "'1.0'"),
        ("1e3", "'1e3'"),
        ("", "''"),
        ("   ", "'   '"),
        ("companies", "'companies'"),
        ("\u0661", "'\u0661'"),  # ARABIC-INDIC DIGIT ONE: a digit, but not an ASCII one
        ("9" * 19, "'" + "9" * 19 + "'"),
    ],
)
@pytest.mark.parametrize("builder", ["constructor", "private_settings"])
def test_any_other_object_type_id_is_a_configuration_error(
    builder: str, value: object, shown: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(builder, value)
    assert caught.value.problems == [
        f"object_type_id must be a positive whole number (the object type's id), got {shown}"
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [(1.0, "a number"), (True, "a boolean"), (["1"], "a list"), ({}, "an object")],
)
def test_an_object_type_id_of_another_type_names_the_type(value: object, kind: str) -> None:
    assert problems_of({"object_type_id": value}) == [
        f"object_type_id must be a positive whole number (the object type's id), got {kind}"
    ]


def test_a_null_object_type_id_takes_the_default() -> None:
    assert read({"object_type_id": None}).object_type_id == "1"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("synchronized_account_segments", "aseg_1",
         "synchronized_account_segments must be a list of strings, got a string"),
        ("synchronized_account_attributes", [1],
         "synchronized_account_attributes must be a list of strings; item(s) [0] are not "
         "strings"),
        ("account_id_mapping", " ",
         "account_id_mapping must name a Hull attribute, got an empty string"),
        ("account_id_mapping", 3, "account_id_mapping must be a string, got a number"),
        ("link_users_to_accounts", "yes",
         "link_users_to_accounts must be true or false, got a string"),
        ("enable_account_deletion", 0,
         "enable_account_deletion must be true or false, got a number"),
    ],
)  # fmt: skip
def test_a_wrong_account_setting_is_a_configuration_error_naming_the_key(
    key: str, value: object, problem: str
) -> None:
    assert problems_of({key: value}) == [problem]


def test_the_account_settings_are_read() -> None:
    made = read(
        {
            "synchronized_account_segments": ["aseg_1"],
            "synchronized_account_attributes": ["clearbit/name"],
            "account_id_mapping": " domain ",
            "object_type_id": "3",
            "link_users_to_accounts": False,
            "enable_account_deletion": True,
        }
    )
    assert (
        made.synchronized_account_segments,
        made.synchronized_account_attributes,
        made.account_id_mapping,
        made.object_type_id,
        made.link_users_to_accounts,
        made.enable_account_deletion,
    ) == (("aseg_1",), ("clearbit/name",), "domain", "3", False, True)
