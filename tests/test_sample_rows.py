"""exporter/sample_rows.py: a reading's samples kept compact, given back unchanged."""

from __future__ import annotations

import math

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.samples import Sample, Timestamp

from exporter.sample_rows import SampleRows, compact_samples

STATES = ("CREATE_IN_PROGRESS", "CREATE_COMPLETE", "CREATE_FAILED")


def test_sample_rows_give_back_the_samples_with_label_values_interned() -> None:
    gauge = GaugeMetricFamily("g", "h", labels=["region", "conformance_pack", "state"])
    for pack in ("pack-a", "pack-b"):
        for state in STATES:
            gauge.add_metric(["eu-west-1", "".join(["pack-", pack[-1]]), state], 1.0)
    gauge.add_metric(["us-east-1", "pack-a", "x"], math.nan)
    other = [Sample("g", {"conformance_pack": "pack-a", "region": "eu-west-1"}, 2.5)]

    rows = SampleRows(gauge.samples)
    compact = compact_samples({"g": gauge.samples, "h": other})

    assert list(rows) == [*gauge.samples[:6], rows[6]]
    assert math.isnan(rows[6].value)
    assert rows[1] == gauge.samples[1]
    assert rows[-2:] == [gauge.samples[5], rows[6]]
    assert rows[:2] == gauge.samples[:2]
    assert len(rows) == 7
    assert list(rows[6].labels) == ["region", "conformance_pack", "state"]
    assert compact["h"] == other
    assert compact["h"] != gauge.samples
    packs = [sample.labels["conformance_pack"] for sample in rows]
    assert packs[0] is packs[1] is packs[6], "one string per pack name, whatever the reading"
    with pytest.raises(ValueError, match="only names, labels and values"):
        SampleRows([Sample("g", {}, 1.0, Timestamp(1, 0))])
