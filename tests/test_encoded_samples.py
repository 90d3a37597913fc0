"""exporter/encoded_samples.py: a reading kept as its compressed lines gives back its samples
and serves exactly the lines `encode_samples` writes."""

from __future__ import annotations

import math
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.samples import Sample, Timestamp

from exporter.encoded_samples import (
    EncodedSamples,
    encode_reading,
    encode_samples,
    first_of_each_series,
)

STATES = ("CREATE_IN_PROGRESS", "CREATE_COMPLETE", "CREATE_FAILED")
# Any text a label value may hold, lone surrogates aside (written as "?": see exposition.py).
LABEL_VALUES = st.text(st.characters(blacklist_categories=["Cs"]))
VALUES = st.floats(allow_nan=False)


def pack_states(region: str, packs: int) -> list[Sample]:
    return [
        Sample("g", {"region": region, "conformance_pack": f"pack-{i}", "state": state}, 1.0)
        for i in range(packs)
        for state in STATES
    ]


@given(st.lists(st.tuples(LABEL_VALUES, LABEL_VALUES, VALUES), max_size=40))
def test_the_samples_come_back_as_they_were_given(rows: list[tuple[str, str, float]]) -> None:
    samples = [Sample("g", {"z": z, "a": a}, value) for z, a, value in rows]

    kept = EncodedSamples.of(samples)

    assert kept == samples
    assert len(kept) == len(samples)
    assert kept.lines == encode_samples(samples)


def test_indexing_slicing_and_special_values() -> None:
    samples = [
        Sample("g", {"reason": 'a "quoted"\\ line\nand\r\u2028more'}, math.inf),
        Sample("g", {"reason": ""}, -0.0),
        Sample("g", {}, 1765000000.123),
        Sample("g", {"x": "y"}, math.nan),
    ]

    kept = EncodedSamples.of(samples)

    assert kept[0] == samples[0]
    assert kept[1:3] == samples[1:3]
    assert math.copysign(1.0, kept[1].value) < 0
    assert math.isnan(kept[-1].value)
    assert kept[-1].labels == {"x": "y"}
    assert kept != samples[:3]
    assert list(kept)[:3] == samples[:3]


def test_long_readings_are_kept_compressed_and_short_ones_as_they_are() -> None:
    """What a target keeps between readings is the compressed lines: about 20 times less
    than the lines for 20 packs of pack states."""
    long = EncodedSamples.of(pack_states("eu-west-1", 20))
    short = EncodedSamples.of(pack_states("eu-west-1", 1)[:1])

    kept = long._block  # what the object holds is the point

    assert zlib.decompress(kept) == long.lines
    assert len(kept) * 10 < len(long.lines)
    assert short._block == short.lines
    served_once = EncodedSamples(long.lines, len(long), keep=False)
    assert served_once._block == long.lines
    assert served_once == long


def test_a_reading_is_encoded_by_family_and_refuses_what_it_cannot_write() -> None:
    reading = encode_reading({"g": pack_states("eu-west-1", 2), "h": []})

    assert reading["g"] == pack_states("eu-west-1", 2)
    assert reading["h"] == []
    assert reading["h"].lines == b""
    with pytest.raises(ValueError, match="timestamps"):
        encode_reading({"g": [Sample("g", {}, 1.0, Timestamp(1, 0))]})


def test_series_two_readings_share_are_kept_once_as_the_first_has_them() -> None:
    first = pack_states("eu-west-1", 2)
    second = [sample._replace(value=0.0) for sample in pack_states("eu-west-1", 3)]

    lines, count = first_of_each_series(EncodedSamples.of(found).lines for found in (first, second))

    expected = [*first, *second[6:]]
    assert lines == encode_samples(expected)
    assert count == len(expected) == 9
