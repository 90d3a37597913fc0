"""exporter/exposition.py writes exactly what prometheus_client's encoders write."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    UnknownMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.samples import Sample

from exporter import encoded_samples
from exporter.encoded_samples import EncodedSamples
from exporter.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    EncodedFamily,
    choose_encoder,
    encode_openmetrics,
    encode_text,
)
from exporter.metrics import api_requests_family, build_info_family
from tests.conftest import ACCOUNT, Families, pack_families, pack_status

STATES = ("CREATE_IN_PROGRESS", "CREATE_COMPLETE", "CREATE_FAILED")


def same_as_prometheus_client(families: list[Metric]) -> None:
    assert encode_text(families) == generate_latest(Families(families))
    assert encode_openmetrics(families) == generate_openmetrics(Families(families))


def test_the_exporters_families() -> None:
    families = pack_families([(ACCOUNT, "us-east-1", [pack_status("a", reason='x"\\\n')])])
    families += [api_requests_family([(ACCOUNT, "r", "Op", "success", 2)]), build_info_family()]
    same_as_prometheus_client(families)


def test_process_metrics_and_other_types_fall_back() -> None:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    histogram = HistogramMetricFamily(
        "h", "A histogram.", buckets=[("1", 2), ("+Inf", 3)], sum_value=4
    )
    counter = CounterMetricFamily("c", "With created.", labels=["a"])
    counter.add_metric(["x"], 1, created=1_700_000_000)
    families = [*registry.collect(), histogram, counter, UnknownMetricFamily("u", "Untyped.", 3)]
    same_as_prometheus_client(families)


label_values = st.text(st.characters(codec="utf-8"), max_size=40)
numbers = st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0, 1.0, math.inf, -math.inf])


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(label_values, label_values, numbers), max_size=10),
    help_text=st.text(max_size=40),
)
def test_any_labels_and_values(rows: list[tuple[str, str, float]], help_text: str) -> None:
    gauge = GaugeMetricFamily("g", help_text, labels=["b", "a"])
    counter = CounterMetricFamily("c", help_text, labels=["z"])
    for first, second, value in rows:
        gauge.add_metric([first, second], value)
        counter.add_metric([first], abs(value))
    same_as_prometheus_client([gauge, counter])


TEXT, OPENMETRICS = TEXT_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE
# What Prometheus sends (scrape/scrape.go acceptHeader), by version and scrape_protocols.
PROMETHEUS_ACCEPT = {
    "2.33": "application/openmetrics-text;version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "2.43": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "2.49": "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;"
    "version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "2.49 protobuf first": "application/vnd.google.protobuf;proto=io.prometheus.client."
    "MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,"
    "application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
    "3 utf-8": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
    "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "3 underscores": "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
    "escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "3 text first": "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;"
    "version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;"
    "q=0.4,*/*;q=0.3",
}


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        *[
            pytest.param(PROMETHEUS_ACCEPT[version], chosen, id=f"Prometheus {version}")
            for version, chosen in [
                ("2.33", TEXT),  # asks for OpenMetrics 0.0.1 first, which we don't write
                ("2.43", OPENMETRICS),
                ("2.49", OPENMETRICS),
                ("2.49 protobuf first", OPENMETRICS),
                ("3 utf-8", OPENMETRICS),
                ("3 underscores", OPENMETRICS),
                ("3 text first", TEXT),  # text 0.0.4 at q=0.5 beats OpenMetrics at 0.4
            ]
        ],
        pytest.param("", TEXT, id="no Accept"),
        pytest.param("*/*", TEXT, id="curl"),
        pytest.param(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", TEXT, id="browser"
        ),
        ("text/plain,application/openmetrics-text;q=0.5", TEXT),
        ("text/*;q=0.5,application/openmetrics-text;q=0.4", TEXT),
        ("application/*,text/plain;q=0.1", TEXT),
        ("application/openmetrics-text", OPENMETRICS),
        ('Application/OpenMetrics-Text; Version="1.0.0"; charset=utf-8', OPENMETRICS),
        ("application/openmetrics-text;version=2.0.0,text/plain", TEXT),
        ("application/openmetrics-text;version=0.0.1", TEXT),
        ("text/plain;version=1.0.0,application/openmetrics-text;q=0.1", OPENMETRICS),
        (
            "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.5",
            OPENMETRICS,
        ),
        ("text/plain;q=0.9,application/openmetrics-text;q=0.8", TEXT),
        ("application/openmetrics-text;q=0,*/*;q=0.1", TEXT),
        ("text/plain;q=0,application/openmetrics-text;q=0.1", OPENMETRICS),
        # The most specific range sets the weight: text/plain;q=0 overrides */*.
        ("text/plain;q=0,*/*,application/openmetrics-text;q=0.1", OPENMETRICS),
        (
            "application/openmetrics-text;q=0,application/openmetrics-text;version=1.0.0",
            OPENMETRICS,
        ),
        ("application/openmetrics-text;version=1.0.0;q=0,application/openmetrics-text", TEXT),
        ("text/plain;q=0.1,application/openmetrics-text;q=high", TEXT),
        ("application/openmetrics-text;q=2,text/plain;q=0.1", TEXT),
        (" , ;;q=,=;", TEXT),
    ],
)
def test_content_negotiation(accept: str, content_type: str) -> None:
    encoder, chosen = choose_encoder(accept)
    assert chosen == content_type
    assert encoder is (encode_openmetrics if content_type == OPENMETRICS else encode_text)


def test_pre_encoded_lines_are_written_as_they_are_in_both_formats() -> None:
    gauge = GaugeMetricFamily("g", 'Quoted "help".', labels=["b", "a"])
    gauge.add_metric(["x\n", 'y"'], 1.0)
    gauge.add_metric(["z", "\\"], -0.0)
    encoded = EncodedFamily("g", 'Quoted "help".')
    encoded.add(EncodedSamples.of(gauge.samples[:1]))
    encoded.add(EncodedSamples.of(gauge.samples[1:]))
    same_as_prometheus_client([encoded])

    # What the encoders write is the blocks' lines, not the samples encoded again.
    encoded.blocks = [EncodedSamples(b"g 7.0\n", 1)]
    assert encode_text([encoded]).endswith(b"# TYPE g gauge\ng 7.0\n")
    assert encode_openmetrics([encoded]).endswith(b"# TYPE g gauge\ng 7.0\n# EOF\n")


def test_encoded_families_make_samples_only_when_they_are_read(monkeypatch) -> None:
    """Serving writes the blocks; the samples of each reading are made into `Sample`s only
    for whoever reads `samples`, in the order they were added."""
    first = EncodedSamples.of([Sample("g", {"a": "1"}, 1.0)])
    second = EncodedSamples.of([Sample("g", {"a": "2"}, 0.0)])
    made: list[str] = []
    make = encoded_samples._sample

    def counted(line: str) -> Sample:
        made.append(line)
        return make(line)

    monkeypatch.setattr(encoded_samples, "_sample", counted)
    family = EncodedFamily("g", "help")
    family.add(first)
    family.add(second)

    assert encode_text([family]).endswith(b'g{a="1"} 1.0\ng{a="2"} 0.0\n')
    assert made == []
    monkeypatch.undo()
    assert family.samples == [*first, *second]
    family.samples = [Sample("g", {"a": "3"}, 1.0)]
    family.add(first)
    assert [sample.labels["a"] for sample in family.samples] == ["3", "1"]
    assert encode_text([family]).endswith(b'g{a="3"} 1.0\ng{a="1"} 1.0\n')
