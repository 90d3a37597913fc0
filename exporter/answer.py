"""What one answer serves of the reads: the collectors' families, merged and in contract order,
each reading's lines encoded once, and the self-metrics of every (collector, target) read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from exporter.aws.accounts import Account
from exporter.collection import Collector, Reading, Slot
from exporter.encoded_samples import EncodedSamples, first_of_each_series
from exporter.exposition import EncodedFamily
from exporter.metrics import (
    COLLECTOR_LABELS,
    LAST_SUCCESS,
    SCRAPE_DURATION,
    SCRAPE_SUCCESS,
    SELF_HELP,
    account_info_family,
    gauge_families,
)


def collector_families(
    collectors: Sequence[Collector], readings: Mapping[Slot, Reading | None]
) -> dict[str, EncodedFamily]:
    """The collectors' families in contract order, each read's lines encoded once per
    reading; a family two collectors serve is served once, its samples contiguous."""
    by_collector: dict[str, list[tuple[Slot, Reading]]] = {}
    for slot, reading in readings.items():
        served_by = by_collector.setdefault(slot.collector.name, [])
        if reading is not None:
            served_by.append((slot, reading))
    by_name: dict[str, EncodedFamily] = {}
    for collector in collectors:
        if collector.name not in by_collector:
            continue  # none of its targets was asked for
        served = sorted(
            by_collector[collector.name],
            key=lambda pair: (pair[1].account_id, pair[1].region),
        )
        families = {name: EncodedFamily(name, text) for name, text in collector.help_texts.items()}
        if collector.policy.overlapping and len(served) > 1:
            # Readings share series: each is served once, as the first reading has it.
            for name, family in families.items():
                kept = (reading.samples[name] for _, reading in served if name in reading.samples)
                lines, count = first_of_each_series(samples.lines for samples in kept)
                family.add(EncodedSamples(lines, count, keep=False))
        else:
            for _, reading in served:
                for name, samples in reading.samples.items():
                    if name in families:
                        families[name].add(samples)
        for name, family in families.items():
            merged = by_name.setdefault(name, family)
            if merged is not family:
                merged.blocks.extend(family.blocks)
    return by_name


def self_metrics(reports: Iterable[tuple[str, Reading, float | None]]) -> list[Metric]:
    """`scrape_success`, its duration and last success of each (collector, target)."""
    samples: dict[str, list[Sample]] = {name: [] for name in SELF_HELP}
    for name, reading, success_at in reports:
        labels = {"account_id": reading.account_id, "region": reading.region, "collector": name}
        samples[SCRAPE_SUCCESS].append(Sample(SCRAPE_SUCCESS, labels, float(reading.success)))
        samples[SCRAPE_DURATION].append(Sample(SCRAPE_DURATION, labels, reading.duration_seconds))
        if success_at is not None:
            samples[LAST_SUCCESS].append(Sample(LAST_SUCCESS, labels, success_at))
    for series in samples.values():
        series.sort(key=lambda sample: tuple(sample.labels[label] for label in COLLECTOR_LABELS))
    return gauge_families(SELF_HELP, samples)


def account_info(accounts: Iterable[Account], listed: Mapping[str, str]) -> Metric:
    """The names of the `accounts` read whose id is known: the configured `name` (an
    operator's choice), else the one Organizations `listed` (id → name); none without either.
    """
    names = {}
    for account in accounts:
        if account.account_id and (name := account.name or listed.get(account.account_id)):
            names[account.account_id] = name
    return account_info_family(names)
