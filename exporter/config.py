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


ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
SESSION_NAME_PATTERN = re.compile(r"^[\w+=,.@-]{2,64}$")
EXTERNAL_ID_PATTERN = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
PROFILE_PATTERN = re.compile(r"^[\w+=,.@:/-]{1,128}$")
NAME_PATTERN = re.compile(r"^[\w.-]{1,64}$")


@dataclass(frozen=True)
class AccountConfig:
    """One account to read: a role to assume, a named profile, or (neither) the default chain."""

    name: str = ""
    role_arn: str = ""
    external_id: str = ""
    session_name: str = "conformance-pack-exporter"
    duration_seconds: int = 3600
    profile: str = ""
    regions: tuple[str, ...] = ()

    @property
    def account_id(self) -> str:
        """The id in the role ARN; '' when it has to be learned."""
        return self.role_arn.split(":")[4] if self.role_arn else ""


@dataclass(frozen=True)
class Config:
    """Everything the exporter can be told; the defaults are safe for a 10 s scrape timeout."""

    regions: tuple[str, ...] = ()
    accounts: tuple[AccountConfig, ...] = ()
    min_interval_seconds: float = 0.0
    organization_conformance_packs: bool = False
    conformance_packs: tuple[str, ...] = ()
    export_status_reason: bool = True
    concurrency: int = 64
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
    """Raised by converters; carries the node that is wrong so the error gets its line.

    `key` is set for errors inside nested mappings (e.g. `accounts[2].role_arn`).
    """

    def __init__(self, message: str, node: yaml.Node, key: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.key = key


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


def _string(pattern: re.Pattern[str], what: str) -> _Field:
    def convert(value: Any, node: yaml.Node) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise _InvalidValueError(f"{value!r} is not a valid {what}", node)
        return value

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


def _mapping_values(
    value: Any, node: yaml.Node, fields: dict[str, _Field], where: str
) -> dict[str, Any]:
    """Convert a YAML mapping key by key: unknown and repeated keys are errors."""
    if not isinstance(node, yaml.MappingNode) or not isinstance(value, dict):
        message = f"{where} must be a mapping, got {_type_name(value)}"
        raise _InvalidValueError(message, node, where or None)
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        path = f"{where}.{key}" if where else key
        if key_node.tag != "tag:yaml.org,2002:str" or key not in value:
            raise _InvalidValueError("keys must be plain strings", key_node, path)
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise _InvalidValueError(f"unknown key (known keys: {known})", key_node, path)
        if key in values:
            raise _InvalidValueError("appears more than once", key_node, path)
        try:
            values[key] = fields[key].convert(value[key], value_node)
        except _InvalidValueError as invalid:
            invalid.key = invalid.key or path
            raise
    return values


_ACCOUNT_FIELDS: dict[str, _Field] = {
    "name": _string(NAME_PATTERN, "account name (letters, digits, _ . -)"),
    "role_arn": _string(ROLE_ARN_PATTERN, "IAM role ARN"),
    "external_id": _string(EXTERNAL_ID_PATTERN, "external id"),
    "session_name": _string(SESSION_NAME_PATTERN, "role session name"),
    "duration_seconds": _integer(900, 43200),
    "profile": _string(PROFILE_PATTERN, "profile name"),
    "regions": _string_list(REGION_PATTERN, "regions"),
}


def _accounts() -> _Field:
    def convert(value: Any, node: yaml.Node) -> tuple[AccountConfig, ...]:
        if not isinstance(value, list) or not isinstance(node, yaml.SequenceNode):
            raise _InvalidValueError(f"expected a list of accounts, got {_type_name(value)}", node)
        accounts = []
        for index, (item, item_node) in enumerate(zip(value, node.value, strict=True)):
            where = f"accounts[{index + 1}]"
            fields = _mapping_values(item, item_node, _ACCOUNT_FIELDS, where)
            if "role_arn" in fields and "profile" in fields:
                raise _InvalidValueError("give role_arn or profile, not both", item_node, where)
            if "role_arn" not in fields and (
                {"external_id", "session_name", "duration_seconds"} & set(fields)
            ):
                raise _InvalidValueError(
                    "external_id, session_name and duration_seconds need role_arn", item_node, where
                )
            accounts.append(AccountConfig(**fields))
        names = [account.name or account.account_id for account in accounts]
        for index, name in enumerate(names):
            if name and name in names[:index]:
                where = f"accounts[{index + 1}]"
                raise _InvalidValueError(f"{name!r} names two accounts", node.value[index], where)
        return tuple(accounts)

    return _Field(convert)


_FIELDS: dict[str, _Field] = {
    "regions": _string_list(REGION_PATTERN, "regions"),
    "accounts": _accounts(),
    "min_interval_seconds": _seconds(0, 3600),
    "organization_conformance_packs": _boolean(),
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


def load_yaml(text: str, path: str, construct: bool = True) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and, with `construct`, the document itself.

    Every YAML failure becomes a ConfigError, including what PyYAML's constructors raise on
    odd tags and what its parser raises on absurd nesting.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        return root, yaml.safe_load(text) if construct else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = None if mark is None else int(mark.line) + 1
        raise ConfigError(path, f"invalid YAML: {error.problem}", line=line) from None
    except yaml.YAMLError as error:
        raise ConfigError(path, f"invalid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(path, "invalid YAML: nested too deeply") from None
    except Exception as error:
        raise ConfigError(path, f"invalid YAML: {type(error).__name__}: {error}") from None


def parse_config(text: str, path: str) -> Config:
    """Parse and validate config text; `path` is only used in error messages."""
    root, document = load_yaml(text, path)
    if document is None:
        return Config()
    if not isinstance(root, yaml.MappingNode) or not isinstance(document, dict):
        line = None if root is None else _line(root)
        raise ConfigError(path, "the top level must be a mapping of keys to values", line=line)
    try:
        return Config(**_mapping_values(document, root, _FIELDS, ""))
    except _InvalidValueError as invalid:
        raise ConfigError(path, str(invalid), invalid.key, _line(invalid.node)) from None


def read_config_text(path: str) -> str:
    """A configuration file's text; a file that can't be read is a ConfigError too."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(path, f"cannot read the file: {reason}") from None


def load_config(path: str) -> Config:
    """Read and validate the config file at `path`."""
    return parse_config(read_config_text(path), path)
