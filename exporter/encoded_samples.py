"""Sample lines, the same in the text format and OpenMetrics (`encode_samples`), and a
reading's samples kept only as those lines, compressed (`EncodedSamples`): kept from one
reading to the next, they are most of a target's memory (see docs/performance.md#memory),
and serving needs nothing but the lines. A lone surrogate AWS may put in a name or reason
(valid JSON, invalid UTF-8) is written as "?" instead of failing the whole scrape.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import overload

from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# Lines shorter than this are kept as they are: compressing them saves little and costs a
# call on every scrape.
_COMPRESS_FROM_BYTES = 256
# zlib's fastest level: the lines repeat pack, rule and state names, so it already shrinks
# them tens of times, and inflating costs the same whatever the level.
_LEVEL = 1
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')
_ESCAPED = re.compile(r"\\(.)")


# prometheus_client ships this untyped; the annotation says what it is.
_format_value: Callable[[float], str] = floatToGoString


def _number(value: float) -> str:
    """Sample values as Go formats them; the 0s and 1s of state sets without the general path."""
    if value == 1.0:
        return "1.0"
    if value == 0.0 and math.copysign(1.0, value) > 0:
        return "0.0"
    return _format_value(value)


def escape(value: str) -> str:
    """A label value (or an OpenMetrics HELP text) as both formats write it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def encode_samples(samples: Iterable[Sample], escaped: dict[str, str] | None = None) -> bytes:
    """The sample lines of gauge samples, the same in both formats: encoded once per reading
    and served by every scrape until the reading changes.

    `escaped` caches escaped label values across calls. Raises ValueError for a sample with a
    timestamp or exemplar, which only prometheus_client's encoders write.
    """
    escaped = {} if escaped is None else escaped
    lines = []
    for sample in samples:
        if sample.timestamp is not None or sample.exemplar is not None:
            raise ValueError(f"{sample.name}: timestamps and exemplars are not pre-encoded")
        pairs = []
        for name, value in sorted(sample.labels.items()):
            text = escaped.get(value)
            if text is None:
                text = escaped[value] = escape(value)
            pairs.append(f'{name}="{text}"')
        number = _number(sample.value)
        if pairs:
            lines.append(f"{sample.name}{{{','.join(pairs)}}} {number}\n")
        else:
            lines.append(f"{sample.name} {number}\n")
    return "".join(lines).encode(errors="replace")


def _unescape(value: str) -> str:
    return _ESCAPED.sub(lambda found: "\n" if found[1] == "n" else found[1], value)


def _sample(line: str) -> Sample:
    """The sample `encode_samples` wrote as `line` (labels in the sorted order written)."""
    series, _, number = line.rpartition(" ")
    name, _, labels = series.partition("{")
    pairs = _LABEL.findall(labels.removesuffix("}"))
    return Sample(name, {label: _unescape(value) for label, value in pairs}, float(number))


class EncodedSamples(Sequence[Sample]):
    """One family's samples of one reading, as the sample lines every scrape serves until
    the next reading, compressed: AWS repeats the same pack, rule, region and state names in
    every series, and a series as a `Sample`, or even as a row of interned strings beside its
    line, cost several times its compressed line. `Sample`s are made again, by parsing the
    lines, only where they are looked at (the status page, tests).
    """

    __slots__ = ("_block", "_compressed", "_count")

    def __init__(self, lines: bytes, count: int, keep: bool = True) -> None:
        """`lines`: `count` sample lines, as `encode_samples` writes them; `keep` false for
        lines served once and dropped, which compressing would only slow down."""
        self._compressed = keep and len(lines) >= _COMPRESS_FROM_BYTES
        self._block = zlib.compress(lines, _LEVEL) if self._compressed else lines
        self._count = count

    @classmethod
    def of(cls, samples: Sequence[Sample], escaped: dict[str, str] | None = None) -> EncodedSamples:
        """`samples` encoded (`escaped` as `encode_samples` takes it) and kept."""
        return cls(encode_samples(samples, escaped), len(samples))

    @property
    def lines(self) -> bytes:
        """The sample lines, as served."""
        return zlib.decompress(self._block) if self._compressed else self._block

    def __len__(self) -> int:
        return self._count

    def _samples(self) -> list[Sample]:
        # Split at "\n" alone: a label value may hold a "\r" or "\u2028", written as is.
        return [_sample(line) for line in self.lines.decode().split("\n")[:-1]]

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        return self._samples()[index]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self._samples())

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same samples, a list of them included."""
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return self._samples() == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EncodedSamples({self._samples()!r})"


def encode_reading(samples: Mapping[str, Sequence[Sample]]) -> dict[str, EncodedSamples]:
    """A collector's samples by family, encoded once (label values escaped once per reading)
    and kept as `EncodedSamples`."""
    escaped: dict[str, str] = {}
    return {name: EncodedSamples.of(found, escaped) for name, found in samples.items()}


def first_of_each_series(blocks: Iterable[bytes]) -> tuple[bytes, int]:
    """The lines of `blocks` without a series seen before, and how many: where several
    readings may report one series. A line's series is all but its value, labels sorted."""
    seen: set[bytes] = set()
    unique = []
    for block in blocks:
        for line in block.split(b"\n")[:-1]:
            series = line[: line.rindex(b" ")]
            if series not in seen:
                seen.add(series)
                unique.append(line + b"\n")
    return b"".join(unique), len(unique)
