"""Strict YAML reading for the configuration files: nodes in, checked values out.

Documents are composed into nodes and read node by node, never constructed, so no YAML tag
can run a constructor. Every problem, from an unreadable file to a value out of range, is one
ConfigError naming the file, the key and the line: the message an operator needs to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import yaml
from yaml.constructor import SafeConstructor

_TAG = "tag:yaml.org,2002:"
_PLAIN_KINDS = frozenset({"str", "int", "float", "bool", "null"})
# Only ever applied to scalars already known to be ints, floats or bools: YAML 1.1 spellings
# (0x1F, 1_000, .inf) read as PyYAML reads them, without dispatching on the document's tags.
_SCALARS = SafeConstructor()


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


def _scalar(node: yaml.Node, kind: str) -> TypeGuard[yaml.ScalarNode]:
    return isinstance(node, yaml.ScalarNode) and node.tag == _TAG + kind


def _kind(node: yaml.Node) -> str:
    """What YAML read a node as, for messages: str, int, …, list, mapping, or its odd tag."""
    if isinstance(node, yaml.MappingNode) and node.tag == _TAG + "map":
        return "mapping"
    if isinstance(node, yaml.SequenceNode) and node.tag == _TAG + "seq":
        return "list"
    short = node.tag.removeprefix(_TAG)
    if isinstance(node, yaml.ScalarNode) and short in _PLAIN_KINDS:
        return short
    return f"!!{short}" if short != node.tag else node.tag


def _too_long(length: int, what: str, max_length: int) -> str:
    """Why a string is refused for its length; the string itself is not quoted, it is long."""
    return f"{what} of {length} characters; at most {max_length} are allowed"


@dataclass(frozen=True)
class ConfigNode:
    """A YAML node and where it is (file and key path); its readers check and convert it.

    Each reader raises a ConfigError at this node, so callers never handle lines.
    """

    node: yaml.Node
    path: str
    key: str = ""

    def error(self, message: str, at: yaml.Node | None = None) -> ConfigError:
        """A ConfigError for this key, at the line of `at` (a node inside this one) or its own."""
        mark = (self.node if at is None else at).start_mark
        line = None if mark is None else int(mark.line) + 1
        return ConfigError(self.path, message, self.key or None, line)

    def missing(self, name: str, message: str) -> ConfigError:
        """A ConfigError about key `name`, absent from this mapping, at the mapping's line."""
        key = f"{self.key}.{name}" if self.key else name
        return ConfigNode(self.node, self.path, key).error(message)

    @property
    def is_null(self) -> bool:
        """Whether the value is null (`~`, `null` or nothing at all)."""
        return _scalar(self.node, "null")

    def mapping(
        self,
        known: Sequence[str] | None,
        refused: Mapping[str, str] | None = None,
        *,
        null_is_empty: bool = False,
    ) -> dict[str, ConfigNode]:
        """The values by key; unknown, refused, repeated and non-string keys are errors.

        `known` None allows any key; `refused` maps keys to why they are not accepted.
        """
        if null_is_empty and self.is_null:
            return {}
        if not isinstance(self.node, yaml.MappingNode) or self.node.tag != _TAG + "map":
            if not self.key:
                raise self.error("the top level must be a mapping of keys to values")
            raise self.error(f"expected a mapping, got {_kind(self.node)}")
        values: dict[str, ConfigNode] = {}
        for key_node, value_node in self.node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _TAG + "str":
                raise self.error(f"keys must be strings, got {_kind(key_node)}", key_node)
            name = str(key_node.value)
            at_key = ConfigNode(key_node, self.path, f"{self.key}.{name}" if self.key else name)
            if refused and name in refused:
                raise at_key.error(refused[name])
            if known is not None and name not in known:
                raise at_key.error(f"unknown key (known keys: {', '.join(known)})")
            if name in values:
                raise at_key.error("appears more than once")
            values[name] = ConfigNode(value_node, self.path, at_key.key)
        return values

    def sequence(self, what: str) -> list[ConfigNode]:
        """The items of a list, keyed `key[1]`, `key[2]`, …; `what` names them in messages."""
        if not isinstance(self.node, yaml.SequenceNode) or self.node.tag != _TAG + "seq":
            raise self.error(f"expected a list of {what}, got {_kind(self.node)}")
        return [
            ConfigNode(item, self.path, f"{self.key}[{index}]")
            for index, item in enumerate(self.node.value, 1)
        ]

    def string(
        self, pattern: re.Pattern[str] | None = None, what: str = "", max_length: int = 0
    ) -> str:
        """A string, matching all of `pattern` if given (`what` names it in messages), of at
        most `max_length` characters if that is not 0.

        Only a pattern mismatch quotes the value: callers reading secrets give no pattern.
        """
        if not _scalar(self.node, "str"):
            raise self.error(f"expected a string, got {_kind(self.node)}")
        text = str(self.node.value)
        if max_length and len(text) > max_length:
            raise self.error(_too_long(len(text), what, max_length))
        if pattern is not None and not pattern.fullmatch(text):
            raise self.error(f"{text!r} is not a valid {what}")
        return text

    def one_of(self, choices: Sequence[str]) -> str:
        """A string that is one of `choices`."""
        text = self.string()
        if text not in choices:
            raise self.error(f"expected one of {', '.join(choices)}")
        return text

    def strings(
        self,
        pattern: re.Pattern[str],
        item: str,
        max_items: int | None = None,
        max_length: int = 0,
    ) -> tuple[str, ...]:
        """A list of distinct strings matching `pattern`, each of at most `max_length`
        characters if that is not 0; `item` names one in messages."""
        nodes = self.sequence(f"{item}s")
        if max_items is not None and len(nodes) > max_items:
            raise self.error(f"at most {max_items} {item}s are allowed")
        texts: dict[str, None] = {}  # a set that keeps the order
        for index, entry in enumerate(nodes, 1):
            if not _scalar(entry.node, "str"):
                message = f"item {index}: expected a string, got {_kind(entry.node)}"
                raise self.error(message, entry.node)
            text = str(entry.node.value)
            if max_length and len(text) > max_length:
                message = f"item {index}: {_too_long(len(text), item, max_length)}"
                raise self.error(message, entry.node)
            if not pattern.fullmatch(text):
                raise self.error(f"item {index}: {text!r} is not a valid {item}", entry.node)
            if text in texts:
                raise self.error(f"item {index}: {text!r} is listed twice", entry.node)
            texts[text] = None
        return tuple(texts)

    def boolean(self) -> bool:
        """true or false (YAML 1.1 spellings such as `yes` included, as PyYAML reads them)."""
        if _scalar(self.node, "bool"):
            value = _SCALARS.bool_values.get(str(self.node.value).lower())
            if value is not None:
                return bool(value)
        raise self.error(f"expected true or false, got {_kind(self.node)}")

    def integer(self, minimum: int, maximum: int) -> int:
        """An integer from `minimum` to `maximum`; a bool or a float is not one."""
        if not _scalar(self.node, "int"):
            raise self.error(f"expected an integer, got {_kind(self.node)}")
        value = self._number(self.node)
        if not minimum <= value <= maximum:
            raise self.error(f"must be between {minimum} and {maximum}, got {value}")
        return int(value)

    def seconds(self, minimum: float, maximum: float) -> float:
        """A duration in seconds from `minimum` to `maximum`: an int or a float, never NaN."""
        if not (_scalar(self.node, "int") or _scalar(self.node, "float")):
            raise self.error(f"expected a number of seconds, got {_kind(self.node)}")
        value = self._number(self.node)
        if not minimum <= value <= maximum:  # false for NaN too
            message = f"must be between {minimum:g} and {maximum:g} seconds, got {value}"
            raise self.error(message)
        return float(value)

    def _number(self, node: yaml.ScalarNode) -> int | float:
        """An int or float scalar's value; an explicit tag may sit on text that is no number."""
        try:
            if _scalar(node, "int"):
                return int(_SCALARS.construct_yaml_int(node))
            return float(_SCALARS.construct_yaml_float(node))
        except (ValueError, IndexError):
            raise self.error(f"{node.value!r} is not a valid number") from None


def parse_yaml(text: str, path: str) -> ConfigNode:
    """The document's root; an empty document is a null root. Bad YAML is a ConfigError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = None if mark is None else int(mark.line) + 1
        raise ConfigError(path, f"invalid YAML: {error.problem}", line=line) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        message = f"invalid YAML: unacceptable character #x{error.character:04x}: {error.reason}"
        raise ConfigError(path, message, line=line) from None
    except RecursionError:
        raise ConfigError(path, "invalid YAML: nested too deeply") from None
    return ConfigNode(yaml.ScalarNode(_TAG + "null", "") if root is None else root, path)


def read_config_text(path: str) -> str:
    """A configuration file's text; a file that can't be read is a ConfigError too."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(path, f"cannot read the file: {reason}") from None
