"""The configuration file: YAML parsed into a frozen dataclass, validated strictly on load.

Errors name the file, the key and the YAML line so a bad deployment fails at start with one
actionable message instead of a traceback or a silently ignored typo.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
PACK_NAME_PATTERN = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]*$")


class ConfigError(Exception):
    """A configuration problem that knows where it is: file, key and line."""

    def __init__(
        self, path: str, message: str, key: str | None = None, line: int | None = None
    ) -> None:
        self.path = path
        self.key = key
        self.line = line
        self.message = message
        where = path if line is None else f"{path}:{line}"
        subject = f"key {key!r}: " if key else ""
        super().__init__(f"{where}: {subject}{message}")


@dataclass(frozen=True)
class Config:
    """Everything the exporter can be told; the defaults are safe for a 10 s scrape timeout."""

    regions: tuple[str, ...] = ()
    conformance_packs: tuple[str, ...] = ()
    export_status_reason: bool = True
    concurrency: int = 16
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    total_max_attempts: int = 3
    default_scrape_timeout_seconds: float = 10.0
    scrape_timeout_offset_seconds: float = 0.5


class _Field:
    """How one key is checked and converted; converters raise `_InvalidValueError`."""

    def __init__(self, convert: Callable[[Any, yaml.Node], Any]) -> None:
        self.convert = convert


class _InvalidValueError(Exception):
    """Raised by converters; carries the node that is wrong so the error gets its line."""

    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.node = node


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _string_list(pattern: re.Pattern[str], what: str, max_items: int | None = None) -> _Field:
    def convert(value: Any, node: yaml.Node) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise _InvalidValueError(f"expected a list of {what}, got {_type_name(value)}", node)
        items = node.value if isinstance(node, yaml.SequenceNode) else []
        seen: set[str] = set()
        for index, item in enumerate(value):
            item_node = items[index] if index < len(items) else node
            if not isinstance(item, str) or not pattern.match(item):
                message = f"item {index + 1}: {item!r} is not a valid {what[:-1]}"
                raise _InvalidValueError(message, item_node)
            if item in seen:
                raise _InvalidValueError(f"item {index + 1}: {item!r} is listed twice", item_node)
            seen.add(item)
        if max_items is not None and len(value) > max_items:
            raise _InvalidValueError(f"at most {max_items} {what} are allowed", node)
        return tuple(value)

    return _Field(convert)


def _boolean() -> _Field:
    def convert(value: Any, node: yaml.Node) -> bool:
        if not isinstance(value, bool):
            raise _InvalidValueError(f"expected true or false, got {_type_name(value)}", node)
        return value

    return _Field(convert)


def _integer(minimum: int, maximum: int) -> _Field:
    def convert(value: Any, node: yaml.Node) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _InvalidValueError(f"expected an integer, got {_type_name(value)}", node)
        if not minimum <= value <= maximum:
            raise _InvalidValueError(f"must be between {minimum} and {maximum}, got {value}", node)
        return value

    return _Field(convert)


def _seconds(minimum: float, maximum: float) -> _Field:
    def convert(value: Any, node: yaml.Node) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _InvalidValueError(f"expected a number of seconds, got {_type_name(value)}", node)
        if math.isnan(value) or not minimum <= value <= maximum:
            raise _InvalidValueError(
                f"must be between {minimum:g} and {maximum:g} seconds, got {value}", node
            )
        return float(value)

    return _Field(convert)


_FIELDS: dict[str, _Field] = {
    "regions": _string_list(REGION_PATTERN, "regions"),
    "conformance_packs": _string_list(PACK_NAME_PATTERN, "conformance pack names", 1000),
    "export_status_reason": _boolean(),
    "concurrency": _integer(1, 256),
    "connect_timeout_seconds": _seconds(0.1, 60),
    "read_timeout_seconds": _seconds(0.1, 120),
    "total_max_attempts": _integer(1, 10),
    "default_scrape_timeout_seconds": _seconds(1, 600),
    "scrape_timeout_offset_seconds": _seconds(0, 10),
}
assert set(_FIELDS) == {field.name for field in dataclasses.fields(Config)}


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def parse_config(text: str, path: str) -> Config:
    """Parse and validate config text; `path` is only used in error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = None if mark is None else int(mark.line) + 1
        raise ConfigError(path, f"invalid YAML: {error.problem}", line=line) from None
    except yaml.YAMLError as error:
        raise ConfigError(path, f"invalid YAML: {error}") from None
    if document is None:
        return Config()
    if not isinstance(root, yaml.MappingNode) or not isinstance(document, dict):
        line = None if root is None else _line(root)
        raise ConfigError(path, "the top level must be a mapping of keys to values", line=line)

    values: dict[str, Any] = {}
    for key_node, value_node in root.value:
        key = key_node.value
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(path, f"unknown key (known keys: {known})", key, _line(key_node))
        if key in values:
            raise ConfigError(path, "appears more than once", key, _line(key_node))
        try:
            values[key] = _FIELDS[key].convert(document[key], value_node)
        except _InvalidValueError as invalid:
            raise ConfigError(path, str(invalid), key, _line(invalid.node)) from None
    return Config(**values)


def load_config(path: str) -> Config:
    """Read and validate the config file at `path`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(path, f"cannot read the file: {reason}") from None
    return parse_config(text, path)
