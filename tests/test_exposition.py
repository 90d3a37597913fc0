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

from exporter.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
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


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("", TEXT_CONTENT_TYPE),
        ("text/plain;version=0.0.4", TEXT_CONTENT_TYPE),
        ("application/openmetrics-text; version=1.0.0", OPENMETRICS_CONTENT_TYPE),
        ("application/openmetrics-text", OPENMETRICS_CONTENT_TYPE),
        ("application/openmetrics-text;version=2.0.0,text/plain", TEXT_CONTENT_TYPE),
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
            "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            OPENMETRICS_CONTENT_TYPE,
        ),
    ],
)
def test_content_negotiation(accept: str, content_type: str) -> None:
    encoder, chosen = choose_encoder(accept)
    assert chosen == content_type
    assert (encoder is encode_openmetrics) == (content_type == OPENMETRICS_CONTENT_TYPE)
