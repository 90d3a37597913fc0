"""Encoding collected families in the Prometheus text format and OpenMetrics, fast.

prometheus_client's encoders validate and escape every label name of every sample, which
cost a third of a scrape of a few hundred packs. These produce the same bytes (the tests
compare them) for gauges, counters and untyped families, caching escaped label values, and
hand any other type to prometheus_client. Sample lines are the same in both formats, so a
reading's lines are encoded once (`encode_samples`) and served by every scrape, in either
format, until the reading changes (`EncodedFamily`). A lone surrogate AWS may put in a name
or reason (valid JSON, invalid UTF-8) is written as "?" instead of failing the whole scrape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from prometheus_client import exposition as text_format
from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as openmetrics_format
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString


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
# prometheus_client ships these untyped; the annotations say what they are.
_format_value: Callable[[float], str] = floatToGoString
_openmetrics_latest: Callable[[_OneFamily], bytes] = openmetrics_format.generate_latest


def _number(value: float) -> str:
    """Sample values as Go formats them; the 0s and 1s of state sets without the general path."""
    if value == 1.0:
        return "1.0"
    if value == 0.0 and math.copysign(1.0, value) > 0:
        return "0.0"
    return _format_value(value)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def encode_samples(samples: Iterable[Sample], escaped: dict[str, str] | None = None) -> bytes:
    """The sample lines of gauge samples, the same in both formats: encoded once per reading
    and reused by every scrape until the reading changes (see `EncodedFamily`).

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
                text = escaped[value] = _escape(value)
            pairs.append(f'{name}="{text}"')
        number = _number(sample.value)
        if pairs:
            lines.append(f"{sample.name}{{{','.join(pairs)}}} {number}\n")
        else:
            lines.append(f"{sample.name} {number}\n")
    return "".join(lines).encode(errors="replace")


class EncodedFamily(Metric):
    """A gauge family whose samples also come as encoded blocks of sample lines, in order.

    The encoders write the blocks instead of encoding the samples again: a scrape serving
    readings it served before only concatenates. `add` keeps samples and blocks in step;
    the samples added are made into a list only when `samples` is read, which serving
    never does, so a scrape makes no `Sample` of a reading it serves from its blocks.
    """

    _samples: list[Sample]
    _added: list[Sequence[Sample]]

    def __init__(self, name: str, documentation: str) -> None:
        super().__init__(name, documentation, "gauge")
        self.blocks: list[bytes] = []

    @property
    def samples(self) -> list[Sample]:
        """Every sample, in order; the ones `add` kept aside are appended first."""
        if self._added:
            added, self._added = self._added, []
            self._samples.extend(sample for block in added for sample in block)
        return self._samples

    @samples.setter
    def samples(self, samples: list[Sample]) -> None:
        self._samples, self._added = samples, []

    def add(self, samples: Sequence[Sample], block: bytes) -> None:
        """Append `samples`, whose lines `block` holds (from `encode_samples`)."""
        self._added.append(samples)
        self.blocks.append(block)


def _is_simple(family: Metric) -> bool:
    """Families this module writes itself; the rest go to prometheus_client."""
    return family.type in _SIMPLE_TYPES and not any(
        sample.timestamp is not None
        or sample.exemplar is not None
        or sample.name.endswith("_created")
        for sample in family.samples
    )


def _lines(family: Metric, escaped: dict[str, str]) -> list[bytes]:
    """A simple family's sample lines: its blocks if it has them, else encoded now."""
    if isinstance(family, EncodedFamily):
        return family.blocks
    return [encode_samples(family.samples, escaped)]


def encode_text(families: Iterable[Metric]) -> bytes:
    """The Prometheus text format 0.0.4, as `prometheus_client.generate_latest` writes it."""
    output: list[bytes] = []
    escaped: dict[str, str] = {}
    for family in families:
        if not isinstance(family, EncodedFamily) and not _is_simple(family):
            output.append(text_format.generate_latest(_OneFamily(family)))
            continue
        name = f"{family.name}_total" if family.type == "counter" else family.name
        kind = "untyped" if family.type == "unknown" else family.type
        help_text = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        header = f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"
        output.append(header.encode(errors="replace"))
        output += _lines(family, escaped)
    return b"".join(output)


def encode_openmetrics(families: Iterable[Metric]) -> bytes:
    """OpenMetrics 1.0, as prometheus_client's OpenMetrics `generate_latest` writes it."""
    output: list[bytes] = []
    escaped: dict[str, str] = {}
    for family in families:
        if not isinstance(family, EncodedFamily) and (not _is_simple(family) or family.unit):
            output.append(_openmetrics_latest(_OneFamily(family)).removesuffix(b"# EOF\n"))
            continue
        header = (
            f"# HELP {family.name} {_escape(family.documentation)}\n"
            f"# TYPE {family.name} {family.type}\n"
        )
        output.append(header.encode(errors="replace"))
        output += _lines(family, escaped)
    output.append(b"# EOF\n")
    return b"".join(output)


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
