"""The AWS Config model botocore ships, read once: requests and scenario data are checked
against the enums, patterns and limits AWS publishes instead of a copy that could drift."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

import botocore.session
from botocore.model import ListShape, ServiceModel, Shape, StructureShape

from exporter.simulator.errors import ApiError, client_error, serialization_error, validation_error


@functools.cache
def _config_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("config")


@functools.cache
def enum_values(shape_name: str) -> tuple[str, ...]:
    """The values the model allows for the enum `shape_name`."""
    return tuple(_config_model().shape_for(shape_name).metadata["enum"])


def conforms(shape_name: str, value: str) -> bool:
    """Whether `value` is a valid string of the model's `shape_name` (length and pattern)."""
    shape = _config_model().shape_for(shape_name)
    try:
        _check(shape, value, ("value",))
    except ApiError:
        return False
    return True


def max_length(shape_name: str) -> int:
    """The longest string or list the model allows for `shape_name`."""
    return int(_config_model().shape_for(shape_name).metadata["max"])


class Params:
    """A request that passed its operation's input shape, read with the types it guarantees."""

    def __init__(self, operation: str, payload: Mapping[str, object]) -> None:
        shape = _config_model().operation_model(operation).input_shape
        if shape is None:
            raise ValueError(f"{operation} takes no input to validate")
        self._shape = shape
        _check(shape, payload, ())
        self._payload = payload

    def get(self, *path: str) -> object:
        """The member at `path`, None when it or a structure above it is absent."""
        value: object = self._payload
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def string(self, *path: str) -> str | None:
        """A string member, None when absent."""
        value = self.get(*path)
        return value if isinstance(value, str) else None

    def strings(self, *path: str) -> list[str]:
        """A list of strings, empty when absent."""
        value = self.get(*path)
        return [str(item) for item in value] if isinstance(value, list) else []

    @property
    def page_size(self) -> int:
        """The Limit (or MaxResults) asked for; 0 or none means the largest the model allows,
        as on AWS."""
        key = "Limit" if "Limit" in self._shape.members else "MaxResults"
        limit = self.get(key)
        if isinstance(limit, int) and limit > 0:
            return limit
        return int(self._shape.members[key].metadata["max"])


def _check(shape: Shape, value: object, path: tuple[str, ...]) -> None:
    if isinstance(shape, StructureShape):
        _check_structure(shape, value, path)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise serialization_error(".".join(path))
        _check_range(value, shape, path)
        for item in value:
            _check(shape.member, item, path)
    elif shape.type_name == "string":
        _check_string(shape, value, path)
    elif shape.type_name == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise serialization_error(".".join(path))
        if path[-1] == "Limit":
            _check_limit(shape, value)
        else:
            _check_range(value, shape, path)
    elif shape.type_name == "boolean" and not isinstance(value, bool):
        raise serialization_error(".".join(path))


def _check_structure(shape: StructureShape, value: object, path: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        raise serialization_error(".".join(path) or shape.name)
    for name in shape.required_members:
        if value.get(name) is None:
            raise validation_error(None, _member((*path, name)), "Member must not be null")
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _check(member, value[name], (*path, name))


def _check_string(shape: Shape, value: object, path: tuple[str, ...]) -> None:
    if not isinstance(value, str):
        raise serialization_error(".".join(path))
    allowed = shape.metadata.get("enum")
    if allowed and value not in allowed:
        raise validation_error(
            value, _member(path), f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    _check_range(value, shape, path)
    pattern = shape.metadata.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        raise validation_error(
            value, _member(path), f"Member must satisfy regular expression pattern: {pattern}"
        )


def _check_range(value: int | str | list[object], shape: Shape, path: tuple[str, ...]) -> None:
    """Bounds are on the length of strings and lists and on the value of numbers."""
    measure, what = (value, "value") if isinstance(value, int) else (len(value), "length")
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if high is not None and measure > high:
        raise validation_error(
            value, _member(path), f"Member must have {what} less than or equal to {high}"
        )
    if low is not None and measure < low:
        raise validation_error(
            value, _member(path), f"Member must have {what} greater than or equal to {low}"
        )


def _check_limit(shape: Shape, limit: int) -> None:
    """Config answers a bad page size with its own exception rather than a validation error."""
    low, high = shape.metadata.get("min", 0), shape.metadata["max"]
    if not low <= limit <= high:
        raise client_error(
            "InvalidLimitException",
            f"Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value"
            f" between {low} and {high}",
        )


def _member(path: tuple[str, ...]) -> str:
    """AWS names members in camelCase in its validation messages."""
    return ".".join(part[:1].lower() + part[1:] for part in path)
