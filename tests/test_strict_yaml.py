"""exporter/strict_yaml.py: each reader accepts what it should and turns everything else into one
ConfigError naming the file, the key and the line; no YAML tag ever runs a constructor."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from exporter.strict_yaml import ConfigError, ConfigNode, parse_yaml, read_config_text

PATTERN = re.compile(r"[a-z]+-\d")


def value(text: str) -> ConfigNode:
    """The node of key `v` in a one-line document `v: <text>`."""
    return parse_yaml(f"v: {text}\n", "f.yml").mapping(None)["v"]


def error_of(read: Callable[[], object]) -> ConfigError:
    """The ConfigError that `read()` raises."""
    with pytest.raises(ConfigError) as caught:
        read()
    return caught.value


def test_the_message_names_file_line_and_key() -> None:
    assert str(ConfigError("f.yml", "bad", "a.b", 3)) == "f.yml:3: key 'a.b': bad"
    assert str(ConfigError("f.yml", "bad", line=3)) == "f.yml:3: bad"
    assert str(ConfigError("f.yml", "bad")) == "f.yml: bad"


# ---------------------------------------------------------------------------------------------
# Reading the document


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: [1\nb: 2\n", 2, "invalid YAML: expected ',' or ']', but got ':'"),
        ("a: 1\n---\na: 2\n", 2, "invalid YAML: but found another document"),
        ("a: 1\nb: x\x00\n", 2, "invalid YAML: unacceptable character #x0000: special characters"),
        ("a: " + "[" * 600, None, "invalid YAML: nested too deeply"),
        ("a: *nowhere\n", 1, "invalid YAML: found undefined alias 'nowhere'"),
    ],
    ids=["unclosed", "two-documents", "control-character", "nesting", "alias"],
)
def test_bad_yaml_is_one_config_error(text: str, line: int | None, message: str) -> None:
    error = error_of(lambda: parse_yaml(text, "f.yml"))

    assert (error.path, error.line, error.key) == ("f.yml", line, None)
    assert error.message.startswith(message)
    assert "\n" not in str(error)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "~\n", "null\n"])
def test_an_empty_document_is_a_null_root(text: str) -> None:
    root = parse_yaml(text, "f.yml")
    assert root.is_null
    assert root.mapping(("a",), null_is_empty=True) == {}


def test_no_tag_runs_a_constructor(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = (
        f"a: !!python/object/apply:os.system ['touch {marker}']\n"
        f"b: !!python/object/new:os.system ['touch {marker}']\n"
    )
    readers = [
        lambda node: node.mapping(None),
        lambda node: node.sequence("things"),
        lambda node: node.string(),
        lambda node: node.strings(PATTERN, "thing"),
        ConfigNode.boolean,
        lambda node: node.integer(0, 1),
        lambda node: node.seconds(0, 1),
    ]

    for node in parse_yaml(text, "f.yml").mapping(("a", "b")).values():
        for read in readers:
            assert "got !!python/object/" in error_of(partial(read, node)).message

    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing.yml", "No such file or directory"),
        ("", "Is a directory"),
        ("latin1.yml", "can't decode byte 0xe9"),
    ],
)
def test_an_unreadable_file_is_a_config_error(tmp_path: Path, name: str, reason: str) -> None:
    (tmp_path / "latin1.yml").write_bytes(b"a: caf\xe9\n")
    path = str(tmp_path / name)

    error = error_of(partial(read_config_text, path))

    assert (error.path, error.line, error.key) == (path, None, None)
    assert error.message.startswith("cannot read the file: ")
    assert reason in error.message


# ---------------------------------------------------------------------------------------------
# Mappings and lists


def test_a_mapping_gives_its_value_nodes_with_their_key_paths() -> None:
    root = parse_yaml("outer:\n  inner: 1\n", "f.yml")

    inner = root.mapping(("outer",))["outer"].mapping(("inner",))["inner"]

    assert inner.key == "outer.inner"
    assert inner.integer(0, 9) == 1
    assert error_of(lambda: inner.integer(5, 9)).line == 2


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ("a: 1\nc: 2\n", 2, "c", "unknown key (known keys: b, a)"),
        ("a: 1\na: 2\n", 2, "a", "appears more than once"),
        ("a: 1\n2: 2\n", 2, None, "keys must be strings, got int"),
        ("a: 1\n[b]: 2\n", 2, None, "keys must be strings, got list"),
        ("a: 1\nold: 2\n", 2, "old", "use a instead"),
        ("- a\n", 1, None, "the top level must be a mapping of keys to values"),
        ("!custom {a: 1}\n", 1, None, "the top level must be a mapping of keys to values"),
    ],
)
def test_mapping_errors(text: str, line: int, key: str | None, message: str) -> None:
    root = parse_yaml(text, "f.yml")
    error = error_of(lambda: root.mapping(("b", "a"), {"old": "use a instead"}))
    assert (error.line, error.key, error.message) == (line, key, message)


def test_nested_mapping_errors_name_the_nested_key() -> None:
    root = parse_yaml("outer:\n  a: 1\n  1: 2\nlist: [a]\nempty:\n", "f.yml").mapping(None)

    non_string = error_of(lambda: root["outer"].mapping(None))
    not_mapping = error_of(lambda: root["list"].mapping(None))
    null = error_of(lambda: root["empty"].mapping(None))

    assert (non_string.line, non_string.key) == (3, "outer")
    assert (not_mapping.line, not_mapping.key, not_mapping.message) == (
        4,
        "list",
        "expected a mapping, got list",
    )
    assert null.message == "expected a mapping, got null"
    assert root["empty"].mapping(None, null_is_empty=True) == {}


def test_a_sequence_keys_its_items_by_position() -> None:
    items = parse_yaml("things:\n  - 1\n  - 2\n", "f.yml").mapping(None)["things"].sequence("x")

    assert [item.key for item in items] == ["things[1]", "things[2]"]
    assert error_of(lambda: items[1].string()).line == 3
    assert error_of(lambda: value("{}").sequence("things")).message == (
        "expected a list of things, got mapping"
    )


# ---------------------------------------------------------------------------------------------
# Scalars


def test_string() -> None:
    assert value("ab-1").string(PATTERN, "thing") == "ab-1"
    assert value("'007'").string() == "007"
    assert error_of(lambda: value("007").string()).message == "expected a string, got int"
    assert error_of(lambda: value("!vault x").string()).message == "expected a string, got !vault"
    assert error_of(lambda: value("2024-01-01").string()).message == (
        "expected a string, got !!timestamp"
    )
    assert error_of(lambda: value("AB-1").string(PATTERN, "thing")).message == (
        "'AB-1' is not a valid thing"
    )


def test_a_pattern_must_match_the_whole_string() -> None:
    """`$` in a pattern also matches before a final newline; a quoted one must not slip by."""
    pattern = re.compile(r"^[a-z]+-\d$")
    assert pattern.match("ab-1\n")
    assert error_of(lambda: value('"ab-1\\n"').string(pattern, "thing")).message == (
        "'ab-1\\n' is not a valid thing"
    )


def test_one_of() -> None:
    assert value("b").one_of(("a", "b")) == "b"
    assert error_of(lambda: value("c").one_of(("a", "b"))).message == "expected one of a, b"


def test_strings() -> None:
    assert value("[ab-1, cd-2]").strings(PATTERN, "thing", 2) == ("ab-1", "cd-2")
    assert value("[]").strings(PATTERN, "thing") == ()


@pytest.mark.parametrize(
    ("text", "max_items", "message"),
    [
        ("ab-1", None, "expected a list of things, got str"),
        ("[ab-1, ab-1]", None, "item 2: 'ab-1' is listed twice"),
        ("[ab-1, 12]", None, "item 2: expected a string, got int"),
        ("[ab-1, AB-1]", None, "item 2: 'AB-1' is not a valid thing"),
        ("[ab-1, cd-2, ef-3]", 2, "at most 2 things are allowed"),
    ],
)
def test_strings_errors(text: str, max_items: int | None, message: str) -> None:
    error = error_of(lambda: value(text).strings(PATTERN, "thing", max_items))
    assert (error.key, error.message) == ("v", message)


def test_a_bad_item_is_reported_at_its_own_line() -> None:
    items = parse_yaml("v:\n  - ab-1\n  - ab-1\n", "f.yml").mapping(None)["v"]
    assert error_of(lambda: items.strings(PATTERN, "thing")).line == 3


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("False", False), ("yes", True), ("off", False)]
)
def test_boolean(text: str, expected: bool) -> None:
    assert value(text).boolean() is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"true"', "expected true or false, got str"),
        ("1", "expected true or false, got int"),
        ("~", "expected true or false, got null"),
        ("[true]", "expected true or false, got list"),
    ],
)
def test_boolean_errors(text: str, message: str) -> None:
    assert error_of(value(text).boolean).message == message


@pytest.mark.parametrize(("text", "expected"), [("5", 5), ("0x10", 16), ("1_000", 1000)])
def test_integer(text: str, expected: int) -> None:
    assert value(text).integer(0, 1000) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1001", "must be between 0 and 1000, got 1001"),
        ("-1", "must be between 0 and 1000, got -1"),
        ("2.0", "expected an integer, got float"),
        ("true", "expected an integer, got bool"),
        ("'5'", "expected an integer, got str"),
        ("!!int 0x1G", "'0x1G' is not a valid number"),
        ("!!int ''", "'' is not a valid number"),
    ],
)
def test_integer_errors(text: str, message: str) -> None:
    assert error_of(lambda: value(text).integer(0, 1000)).message == message


@pytest.mark.parametrize(("text", "expected"), [("0", 0.0), ("2", 2.0), ("1.5", 1.5)])
def test_seconds(text: str, expected: float) -> None:
    seconds = value(text).seconds(0, 2)
    assert (seconds, type(seconds)) == (expected, float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "must be between 0.5 and 2 seconds, got -1"),
        ("2.5", "must be between 0.5 and 2 seconds, got 2.5"),
        (".nan", "must be between 0.5 and 2 seconds, got nan"),
        (".inf", "must be between 0.5 and 2 seconds, got inf"),
        ("true", "expected a number of seconds, got bool"),
        ("5s", "expected a number of seconds, got str"),
        ("!!float abc", "'abc' is not a valid number"),
    ],
)
def test_seconds_errors(text: str, message: str) -> None:
    assert error_of(lambda: value(text).seconds(0.5, 2)).message == message


def test_nan_is_never_in_range() -> None:
    """NaN compares false with everything: a range check written as `v < min or v > max`
    would let it through."""
    assert error_of(lambda: value(".nan").seconds(-math.inf, math.inf)).message.endswith("nan")


def test_missing_names_the_absent_key_at_the_mapping() -> None:
    section = parse_yaml("tls:\n  cert: a\n", "f.yml").mapping(None)["tls"]
    error = section.missing("key", "needs a key")
    assert (error.key, error.line, error.message) == ("tls.key", 2, "needs a key")
