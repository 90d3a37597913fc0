"""Encoding collected families in the Prometheus text format and OpenMetrics, fast.

prometheus_client's encoders validate and escape every label name of every sample, which
cost a third of a scrape of a few hundred packs. These produce the same bytes (the tests
compare them) for gauges, counters and untyped families, caching escaped label values, and
hand any other type to prometheus_client. Sample lines are the same in both formats, so a
reading's lines are encoded once (exporter/encoded_samples.py) and served by every scrape, in
either format, until the reading changes (`EncodedFamily`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from prometheus_client import exposition as text_format
from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as openmetrics_format
from prometheus_client.samples import Sample

from exporter.encoded_samples import EncodedSamples, encode_samples, escape


class _OneFamily:
    """One family as a collector, for prometheus_client's encoders."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        yield self._family


Encoder = Callable[[Iterable[Metric]], bytes]
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_SIMPLE_TYPES = frozenset({"gauge", "counter", "unknown", "untyped"})
# prometheus_client ships this untyped; the annotation says what it is.
_openmetrics_latest: Callable[[_OneFamily], bytes] = openmetrics_format.generate_latest


class EncodedFamily(Metric):
    """A gauge family kept as the encoded blocks of its readings' sample lines, in order.

    The encoders write the blocks instead of encoding samples again: a scrape serving
    readings it served before only inflates and concatenates their lines. Its `samples`
    are parsed back from the blocks, which serving never does.
    """

    def __init__(self, name: str, documentation: str) -> None:
        self.blocks: list[EncodedSamples] = []
        super().__init__(name, documentation, "gauge")

    @property
    def samples(self) -> list[Sample]:
        """Every sample, in order, parsed from the blocks."""
        return [sample for block in self.blocks for sample in block]

    @samples.setter
    def samples(self, samples: list[Sample]) -> None:
        self.blocks = [EncodedSamples.of(samples)] if samples else []

    def add(self, samples: EncodedSamples) -> None:
        """Append a reading's samples of this family."""
        self.blocks.append(samples)


def _is_simple(family: Metric) -> bool:
    """Families this module writes itself; the rest go to prometheus_client."""
    return family.type in _SIMPLE_TYPES and not any(
        sample.timestamp is not None
        or sample.exemplar is not None
        or sample.name.endswith("_created")
        for sample in family.samples
    )


def _write_lines(output: io.BytesIO, family: Metric, escaped: dict[str, str]) -> None:
    """A simple family's sample lines: its blocks one at a time if it has them (so an answer
    never holds every block inflated besides itself), else encoded now."""
    if isinstance(family, EncodedFamily):
        for block in family.blocks:
            output.write(block.lines)
    else:
        output.write(encode_samples(family.samples, escaped))


def encode_text(families: Iterable[Metric]) -> bytes:
    """The Prometheus text format 0.0.4, as `prometheus_client.generate_latest` writes it."""
    output = io.BytesIO()
    escaped: dict[str, str] = {}
    for family in families:
        if not isinstance(family, EncodedFamily) and not _is_simple(family):
            output.write(text_format.generate_latest(_OneFamily(family)))
            continue
        name = f"{family.name}_total" if family.type == "counter" else family.name
        kind = "untyped" if family.type == "unknown" else family.type
        help_text = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        header = f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"
        output.write(header.encode(errors="replace"))
        _write_lines(output, family, escaped)
    return output.getvalue()


def encode_openmetrics(families: Iterable[Metric]) -> bytes:
    """OpenMetrics 1.0, as prometheus_client's OpenMetrics `generate_latest` writes it."""
    output = io.BytesIO()
    escaped: dict[str, str] = {}
    for family in families:
        if not isinstance(family, EncodedFamily) and (not _is_simple(family) or family.unit):
            output.write(_openmetrics_latest(_OneFamily(family)).removesuffix(b"# EOF\n"))
            continue
        header = (
            f"# HELP {family.name} {escape(family.documentation)}\n"
            f"# TYPE {family.name} {family.type}\n"
        )
        output.write(header.encode(errors="replace"))
        _write_lines(output, family, escaped)
    output.write(b"# EOF\n")
    return output.getvalue()


class _Offer(NamedTuple):
    """A format we write, and the media ranges of an Accept header that select it."""

    encoder: Encoder
    content_type: str
    media_type: str
    version: str
    by_wildcard: bool


# In order of preference when two are equally acceptable: OpenMetrics first, as Prometheus
# ranks them. Only a client that names OpenMetrics gets it: browsers and curl send */* and
# want the text format.
_OFFERS = (
    _Offer(
        encode_openmetrics,
        OPENMETRICS_CONTENT_TYPE,
        "application/openmetrics-text",
        "1.0.0",
        by_wildcard=False,
    ),
    _Offer(encode_text, TEXT_CONTENT_TYPE, "text/plain", "0.0.4", by_wildcard=True),
)


def _media_ranges(accept_header: str) -> Iterator[tuple[str, str | None, float]]:
    """(media type, version, q) of each range of an Accept header; a range with a bad q is
    skipped and other parameters (Prometheus 3's `escaping=`, `charset=`) are ignored."""
    for media_range in accept_header.split(","):
        media_type, *parameters = media_range.split(";")
        version, weight = None, 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "version":
                version = value
            elif name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = math.nan
        if 0.0 <= weight <= 1.0:
            yield media_type.strip().lower(), version, weight


def _specificity(offer: _Offer, media_type: str, version: str | None) -> int | None:
    """How closely a range names `offer` (the most specific one sets its q), None if not."""
    if media_type == offer.media_type:
        if version is None:
            return 2
        return 3 if version == offer.version else None
    if not offer.by_wildcard:
        return None
    if media_type == "*/*":
        return 0
    return 1 if media_type == offer.media_type.split("/")[0] + "/*" else None


def choose_encoder(accept_header: str) -> tuple[Encoder, str]:
    """The acceptable format with the highest q (RFC 9110); the text format 0.0.4 when none is.

    A version we don't write (OpenMetrics 0.0.1, text 1.0.0) is never chosen, and q=0 means
    not acceptable.
    """
    ranges = list(_media_ranges(accept_header))
    chosen, chosen_weight = _OFFERS[-1], 0.0
    for offer in _OFFERS:
        matches = [
            (specificity, weight)
            for media_type, version, weight in ranges
            if (specificity := _specificity(offer, media_type, version)) is not None
        ]
        weight = max(matches, default=(0, 0.0))[1]
        if weight > chosen_weight:
            chosen, chosen_weight = offer, weight
    return chosen.encoder, chosen.content_type
