"""A reading's samples as compact rows of interned label values (`SampleRows`): kept from one
reading to the next, they are most of a target's memory (see docs/performance.md#memory)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

from prometheus_client.samples import Sample

# Label-name tuples, one per distinct set: every row of a family shares its family's.
_LABEL_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


class SampleRows(Sequence[Sample]):
    """One family's samples of one reading, as one tuple each: (name, label names, value,
    label values...), every string interned. A reading is kept until the next one; as
    `Sample`s with a label dict each, a series cost about 250 bytes more, and AWS repeats
    the same pack, rule, region and state names in every account. Samples are made again
    only where they are looked at (the status page, overlapping readings, tests): serving
    writes the reading's encoded lines.
    """

    __slots__ = ("_rows",)

    def __init__(self, samples: Iterable[Sample]) -> None:
        rows: list[tuple[Any, ...]] = []
        for sample in samples:
            if (sample.timestamp, sample.exemplar, sample.native_histogram) != (None,) * 3:
                raise ValueError(f"{sample.name}: only names, labels and values are kept")
            names = tuple(sample.labels)
            names = _LABEL_NAMES.setdefault(names, names)
            values = map(sys.intern, sample.labels.values())
            rows.append((sys.intern(sample.name), names, sample.value, *values))
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @staticmethod
    def _sample(row: tuple[Any, ...]) -> Sample:
        return Sample(row[0], dict(zip(row[1], row[3:], strict=True)), row[2])

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return [self._sample(row) for row in self._rows[index]]
        return self._sample(self._rows[index])

    def __iter__(self) -> Iterator[Sample]:
        return map(self._sample, self._rows)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same samples, a list of them included."""
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SampleRows({list(self)!r})"


def compact_samples(samples: Mapping[str, Iterable[Sample]]) -> dict[str, SampleRows]:
    """A collector's samples by family, kept as `SampleRows`."""
    return {name: SampleRows(found) for name, found in samples.items()}
