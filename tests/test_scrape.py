"""exporter/scrape.py: one fan-out for every collector: isolation, deadlines, self-metrics,
background reads; collectors are driven through botocore's Stubber or small fakes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import pytest
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.samples import Sample

from exporter import encoded_samples
from exporter.aws.accounts import DISCOVERED, Account
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import Target, UnknownTargetError
from exporter.collection import Reading, ReadPolicy
from exporter.config import AccountConfig
from exporter.deadline import Deadline
from exporter.encoded_samples import encode_samples
from exporter.exposition import EncodedFamily, encode_openmetrics, encode_text
from exporter.metrics import (
    ACCOUNT_INFO,
    ACCOUNTS,
    API_REQUESTS,
    LAST_SUCCESS,
    SCRAPE_DURATION,
    SCRAPE_SUCCESS,
    STATE,
    gauge_families,
)
from exporter.pack_rules import PackRules
from exporter.scrape import Scraper, UnknownCollectorError
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.collectors.test_status import OPERATION, stub_pages
from tests.conftest import (
    ACCOUNT,
    STUBBED_REGIONS,
    Families,
    exposition,
    make_account,
    make_scraper,
    pack_status,
    parse_exposition,
    scrape_samples,
    wait_for,
)

REGIONS = STUBBED_REGIONS
openmetrics: Callable[[Families], bytes] = generate_openmetrics  # shipped untyped
FAKE = "aws_config_fake_value"


@pytest.fixture
def targets(account: Account) -> list[Target]:
    return [Target(account, region) for region in REGIONS]


@pytest.fixture
def known_targets(targets: list[Target]) -> list[Target]:
    """Targets whose account id is known, so fake reads need no STS call."""
    targets[0].account.account_id = ACCOUNT
    return targets


class FakeCollector:
    """A collector whose reads a test drives: each read waits for `release`, then answers."""

    name = "fake"
    help_texts: Mapping[str, str] = {FAKE: "A value the test controls."}

    def __init__(self, policy: ReadPolicy) -> None:
        self.policy = policy
        self.release = threading.Event()
        self.release.set()
        self.value = 1.0
        self.fail = False
        self.reads = 0

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        return targets[:1]

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        self.reads += 1
        self.release.wait(30)
        if self.fail:
            raise RuntimeError("the fake read failed")
        labels = {"account_id": ACCOUNT, "region": target.region}
        return {FAKE: [Sample(FAKE, labels, self.value)]}


def fake_scraper(targets: list[Target], collector: FakeCollector) -> Scraper:
    return Scraper([collector], targets, ApiCallCounter())


def served(scraper: Scraper, timeout: float = 5.0):
    return parse_exposition(exposition(scraper.collect(Deadline.after(timeout))))


def by_collector(samples, name: str = SCRAPE_SUCCESS) -> dict[tuple[str, str], float]:
    return {(labels["collector"], labels["region"]): value for labels, value in samples[name]}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDeniedException", 400),
        ("ThrottlingException", 400),
        ("ExpiredTokenException", 400),
        ("UnrecognizedClientException", 400),
        ("InternalFailure", 500),
    ],
)
def test_an_error_fails_only_its_region(targets, stubbers, caplog, code, status) -> None:
    stub_pages(stubbers["us-east-1"], [pack_status("healthy")])
    stubbers["eu-west-1"].add_client_error(OPERATION, code, http_status_code=status)
    # One worker: us-east-1 runs first and learns the account id, so no STS call is made.
    scraper = make_scraper(targets, concurrency=1)

    with caplog.at_level(logging.WARNING):
        samples = scrape_samples(scraper)
    scraper.close()

    assert by_collector(samples) == {("status", "us-east-1"): 1.0, ("status", "eu-west-1"): 0.0}
    assert {labels["region"] for labels, _ in samples[STATE]} == {"us-east-1"}
    [failure] = [r for r in caplog.records if r.getMessage() == "collection failed"]
    assert (failure.collector, failure.region, failure.error_code) == ("status", "eu-west-1", code)
    assert not failure.exc_info


def test_a_page_without_the_result_key_fails_the_region(targets, stubbers, caplog) -> None:
    stubbers["us-east-1"].add_response(OPERATION, {}, {"Limit": 20})
    stubbers["sts"].add_response(
        "get_caller_identity", {"Account": ACCOUNT, "Arn": "arn:aws:iam::1:user/x", "UserId": "U"}
    )
    scraper = make_scraper(targets[:1])

    with caplog.at_level(logging.WARNING):
        samples = scrape_samples(scraper)
    scraper.close()

    assert samples[SCRAPE_SUCCESS] == [
        ({"account_id": ACCOUNT, "collector": "status", "region": "us-east-1"}, 0.0)
    ]
    assert STATE not in samples
    assert [r.error_code for r in caplog.records] == ["invalid_response"]


def test_a_target_past_the_deadline_fails_with_its_elapsed_time(account, targets, stubbers) -> None:
    release = threading.Event()
    stub_pages(stubbers["us-east-1"], [pack_status("fast")])
    stub_pages(stubbers["eu-west-1"], [pack_status("slow")])
    account.clients["eu-west-1"].meta.events.register_first(
        "before-parameter-build.config-service.DescribeConformancePackStatus",
        lambda **_: release.wait(30) and None,
    )
    scraper = make_scraper(targets)

    started = time.monotonic()
    try:
        samples = scrape_samples(scraper, timeout=0.3)
    finally:
        release.set()
        scraper.close()

    assert time.monotonic() - started < 5
    assert by_collector(samples) == {("status", "us-east-1"): 1.0, ("status", "eu-west-1"): 0.0}
    durations = by_collector(samples, SCRAPE_DURATION)
    assert durations[("status", "eu-west-1")] >= 0.3


def test_traceback_only_at_debug_level(targets, stubbers, caplog) -> None:
    stub_pages(stubbers["us-east-1"], [pack_status("healthy")])
    stubbers["eu-west-1"].add_client_error(OPERATION, "AccessDeniedException")
    scraper = make_scraper(targets, concurrency=1)

    with caplog.at_level(logging.DEBUG, logger="exporter"):
        scrape_samples(scraper)
    scraper.close()

    [failure] = [r for r in caplog.records if r.getMessage() == "collection failed"]
    assert failure.exc_info is not None
    assert failure.exc_info[0] is not None
    assert failure.exc_info[0].__name__ == "ClientError"
    assert failure.account_id == ACCOUNT


def test_self_metrics_carry_the_collector_label(known_targets) -> None:
    collector = FakeCollector(ReadPolicy())
    scraper = fake_scraper(known_targets, collector)

    samples = served(scraper)
    scraper.close()

    assert samples[FAKE] == [({"account_id": ACCOUNT, "region": "us-east-1"}, 1.0)]
    for name in (SCRAPE_SUCCESS, SCRAPE_DURATION, LAST_SUCCESS):
        assert [labels["collector"] for labels, _ in samples[name]] == ["fake"], name


def test_a_background_read_is_served_by_the_next_scrape_and_never_waited_for(known_targets) -> None:
    collector = FakeCollector(ReadPolicy(min_interval_seconds=0.0, background=True))
    collector.release.clear()
    scraper = fake_scraper(known_targets, collector)

    started = time.monotonic()
    first = served(scraper, timeout=5.0)
    waited = time.monotonic() - started
    collector.release.set()
    second = wait_for(lambda: served(scraper).get(FAKE), 10, "the read", interval=0.01)
    scraper.close()

    assert waited < 4, "the scrape waited for a background read"
    assert FAKE not in first
    assert SCRAPE_SUCCESS not in first, "nothing to report before the first read ends"
    assert second == [({"account_id": ACCOUNT, "region": "us-east-1"}, 1.0)]
    assert collector.reads == 1


def test_a_failed_background_read_serves_the_last_good_samples(known_targets) -> None:
    collector = FakeCollector(ReadPolicy(background=True))
    scraper = fake_scraper(known_targets, collector)
    good = wait_for(lambda: served(scraper).get(FAKE) and served(scraper), 30, "a good read")
    collector.fail = True  # a read already past its check may still succeed: with value 1.0

    failed = wait_for(
        lambda: (samples := served(scraper))[SCRAPE_SUCCESS][0][1] == 0.0 and samples,
        30,
        "a failed read",
        interval=0.01,
    )
    scraper.close()

    assert good[FAKE] == [({"account_id": ACCOUNT, "region": "us-east-1"}, 1.0)]
    assert failed[FAKE] == good[FAKE]
    assert by_collector(failed) == {("fake", "us-east-1"): 0.0}
    [(_, last_success)] = failed[LAST_SUCCESS]
    assert last_success <= time.time()
    assert last_success >= by_collector(good, LAST_SUCCESS)[("fake", "us-east-1")]


def test_min_interval_reuses_a_reading(known_targets) -> None:
    collector = FakeCollector(ReadPolicy(min_interval_seconds=3600))
    scraper = fake_scraper(known_targets, collector)

    served(scraper)
    served(scraper)
    scraper.close()

    assert collector.reads == 1


def test_a_probe_with_unknown_parameters_is_refused_before_any_read(known_targets) -> None:
    collector = FakeCollector(ReadPolicy())
    scraper = fake_scraper(known_targets, collector)

    with pytest.raises(UnknownTargetError, match="unknown parameters"):
        scraper.probe({"account": ACCOUNT, "target": "x"}, Deadline.after(5))
    scraper.close()

    assert collector.reads == 0


def test_a_probe_reads_only_the_collectors_of_its_targets(known_targets) -> None:
    collector = FakeCollector(ReadPolicy())  # reads only the first target, us-east-1
    scraper = fake_scraper(known_targets, collector)

    other = parse_exposition(
        exposition(scraper.probe({"account": ACCOUNT, "region": "eu-west-1"}, Deadline.after(5)))
    )
    scraper.close()

    assert FAKE not in other
    assert collector.reads == 0


def test_metrics_add_process_metrics_to_a_scrape(known_targets) -> None:
    scraper = fake_scraper(known_targets, FakeCollector(ReadPolicy()))

    names = {family.name for family in scraper.metrics(Deadline.after(5))}
    scraper.close()

    assert {"process_cpu_seconds", "aws_config_exporter_build_info", FAKE} <= names


def test_the_snapshot_shows_what_the_last_scrape_saw(targets, stubbers) -> None:
    stub_pages(
        stubbers["us-east-1"],
        [pack_status("ok"), pack_status("broken", "CREATE_FAILED", reason="stack <failed>")],
    )
    stubbers["eu-west-1"].add_client_error(OPERATION, "AccessDeniedException")
    scraper = make_scraper(targets, concurrency=1)
    before = scraper.snapshot()

    scrape_samples(scraper)
    after = scraper.snapshot()
    scraper.close()

    assert before.collections == []
    assert before.unsettled_packs == []
    outcome = {
        (c.region, c.success, c.error_code, c.age_seconds is not None) for c in after.collections
    }
    assert outcome == {
        ("us-east-1", True, "", True),
        ("eu-west-1", False, "AccessDeniedException", False),
    }
    assert [(p.conformance_pack, p.state, p.reason) for p in after.unsettled_packs] == [
        ("broken", "CREATE_FAILED", "stack <failed>")
    ]


class SharingCollector(FakeCollector):
    """Serves FAKE too, with HELP of its own, and a family only it has; `series` gives each
    target's samples of FAKE."""

    name = "sharing"
    help_texts: Mapping[str, str] = {FAKE: "Another HELP.", f"{FAKE}_own": "Its own family."}

    def __init__(self, policy: ReadPolicy, series: Mapping[str, list[Sample]]) -> None:
        super().__init__(policy)
        self.series = series
        self.all_targets = False

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        return targets if self.all_targets else targets[:1]

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        own = Sample(f"{FAKE}_own", {"account_id": ACCOUNT, "region": target.region}, 1.0)
        return {FAKE: self.series[target.region], f"{FAKE}_own": [own]}


def fake_sample(region: str, value: float) -> Sample:
    return Sample(FAKE, {"account_id": "210987654321", "region": region}, value)


def test_a_family_two_collectors_serve_is_served_once(known_targets) -> None:
    sharing = SharingCollector(ReadPolicy(), {"us-east-1": [fake_sample("ap-south-1", 2.0)]})
    scraper = Scraper([FakeCollector(ReadPolicy()), sharing], known_targets, ApiCallCounter())

    families = scraper.collect(Deadline.after(5))
    text = exposition(families)
    scraper.close()

    names = [family.name for family in families]
    assert names[:2] == [FAKE, f"{FAKE}_own"]
    assert names.count(FAKE) == 1
    assert f"# HELP {FAKE} A value the test controls.\n" in text
    assert text.count(f"# TYPE {FAKE} gauge") == 1
    assert parse_exposition(text)[FAKE] == [
        ({"account_id": ACCOUNT, "region": "us-east-1"}, 1.0),
        ({"account_id": "210987654321", "region": "ap-south-1"}, 2.0),
    ]


@pytest.mark.parametrize("overlapping", [True, False])
def test_overlapping_reads_serve_each_series_once(known_targets, overlapping) -> None:
    series = {
        "us-east-1": [fake_sample("ap-south-1", 1.0), fake_sample("us-west-2", 1.0)],
        "eu-west-1": [fake_sample("ap-south-1", 2.0)],
    }
    sharing = SharingCollector(ReadPolicy(overlapping=overlapping), series)
    sharing.all_targets = True
    scraper = Scraper([sharing], known_targets, ApiCallCounter())

    samples = served(scraper)
    scraper.close()

    # Readings are merged in (account, region) order: eu-west-1's comes first.
    first = [
        ({"account_id": "210987654321", "region": "ap-south-1"}, 2.0),
        ({"account_id": "210987654321", "region": "ap-south-1"}, 1.0),
        ({"account_id": "210987654321", "region": "us-west-2"}, 1.0),
    ]
    assert samples[FAKE] == ([first[0], first[2]] if overlapping else first)
    assert len(samples[f"{FAKE}_own"]) == 2, "series of distinct targets are all kept"


class EveryTargetCollector(FakeCollector):
    """A fake collector that reads every target it is given."""

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        return targets


def test_new_targets_keep_the_reads_of_unchanged_ones_and_drop_the_rest(known_targets) -> None:
    collector = EveryTargetCollector(ReadPolicy(min_interval_seconds=3600))
    kept, dropped = known_targets
    scraper = fake_scraper([kept, dropped], collector)
    before = served(scraper)
    added = Target(kept.account, "ap-southeast-2")

    scraper.set_targets([kept, added])
    after = served(scraper)
    scraper.close()

    assert sorted(labels["region"] for labels, _ in before[FAKE]) == ["eu-west-1", "us-east-1"]
    assert sorted(labels["region"] for labels, _ in after[FAKE]) == ["ap-southeast-2", "us-east-1"]
    assert sorted(by_collector(after)) == [("fake", "ap-southeast-2"), ("fake", "us-east-1")]
    assert collector.reads == 3, "the unchanged target was read again"
    assert scraper.targets == (kept, added)


class RuleRecordingCollector(EveryTargetCollector):
    """A fake collector that records each target's rules, as the compliance collector does."""

    def __init__(self, policy: ReadPolicy, pack_rules: PackRules) -> None:
        super().__init__(policy)
        self.pack_rules = pack_rules

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        self.pack_rules.record(target, {"pack": [f"rule-{target.region}"]})
        return super().read(target, deadline)


def test_the_rules_of_a_dropped_target_are_forgotten(account: Account) -> None:
    account.account_id = ACCOUNT
    pack_rules = PackRules()
    collector = RuleRecordingCollector(ReadPolicy(), pack_rules)
    kept, dropped = Target(account, "us-east-1"), Target(account, "eu-west-1")
    scraper = fake_scraper([kept, dropped], collector)
    served(scraper)
    assert len(pack_rules) == 2

    scraper.set_targets([kept])
    del dropped  # what discovery held, as the scraper no longer does
    served(scraper)
    scraper.close()

    assert len(pack_rules) == 1, "a dropped target's rules are kept"
    assert pack_rules.of(Target(account, "us-east-1")) == {"pack": ("rule-us-east-1",)}


class FakeReporter:
    """Work outside the scrapes, reporting what the test sets."""

    name = "discovery"

    def __init__(self, account: Account) -> None:
        self.account_id = account.account_id
        self.last: tuple[Reading, float | None] | None = None

    def last_reading(self) -> tuple[Reading, float | None] | None:
        return self.last


def test_a_reporter_is_served_in_metrics_and_the_snapshot_but_not_in_probes(known_targets) -> None:
    scraper = fake_scraper(known_targets, FakeCollector(ReadPolicy()))
    reporter = FakeReporter(known_targets[0].account)
    scraper.add_reporter(reporter)
    nothing_yet = served(scraper)
    reporter.last = (Reading(ACCOUNT, "us-east-1", False, 0.25, {}, "AccessDenied"), 1234.5)

    samples = served(scraper)
    probed = parse_exposition(exposition(scraper.probe({"account": ACCOUNT}, Deadline.after(5))))
    snapshot = scraper.snapshot()
    scraper.close()

    assert ("discovery", "us-east-1") not in by_collector(nothing_yet)
    assert by_collector(samples)[("discovery", "us-east-1")] == 0.0
    assert by_collector(samples, SCRAPE_DURATION)[("discovery", "us-east-1")] == 0.25
    assert by_collector(samples, LAST_SUCCESS)[("discovery", "us-east-1")] == 1234.5
    assert ("discovery", "us-east-1") not in by_collector(probed)
    [shown] = [c for c in snapshot.collections if c.collector == "discovery"]
    assert (shown.success, shown.error_code) == (False, "AccessDenied")


def test_the_accounts_gauge_counts_accounts_by_source(known_targets) -> None:
    account = known_targets[0].account
    discovered = make_account(("us-east-1",))
    discovered.source = DISCOVERED
    scraper = fake_scraper(known_targets, FakeCollector(ReadPolicy()))
    alone = served(scraper)

    scraper.set_targets([*known_targets, Target(discovered, "us-east-1")])
    both = served(scraper)
    probed = parse_exposition(exposition(scraper.probe({"account": ACCOUNT}, Deadline.after(5))))
    scraper.close()

    assert account.source == "config"
    assert dict((labels["source"], value) for labels, value in alone[ACCOUNTS]) == {
        "config": 1.0,
        "organization": 0.0,
    }
    assert dict((labels["source"], value) for labels, value in both[ACCOUNTS]) == {
        "config": 1.0,
        "organization": 1.0,
    }
    assert ACCOUNTS not in probed


def test_account_info_names_each_account_read_once(known_targets) -> None:
    """The configured name wins, else Organizations' (the listed names); no series for an
    account with neither, one whose id is not known yet, or one listed but not read. A probe
    serves its own account's."""

    def account(account_id: str, name: str = "") -> Account:
        role = f"arn:aws:iam::{account_id}:role/reader"
        return make_account(("us-east-1",), account=AccountConfig(name=name, role_arn=role))

    audit, unnamed = account("210987654321", "audit"), account("444444444444")
    no_id_yet = make_account(("us-east-1",), account=AccountConfig(name="dev", profile="dev"))
    listed = {
        ACCOUNT: "Management",
        "210987654321": "Audit team",
        "999999999999": "Not read",
    }
    scraper = fake_scraper(known_targets, FakeCollector(ReadPolicy()))
    unlisted = served(scraper)
    scraper.set_targets(
        [*known_targets, *(Target(a, "us-east-1") for a in (audit, unnamed, no_id_yet))]
    )
    scraper.set_listed_names(lambda: listed)
    samples = served(scraper)
    probed = parse_exposition(exposition(scraper.probe({"account": "audit"}, Deadline.after(5))))
    scraper.close()

    def names(found: Mapping[str, list[tuple[dict[str, str], float]]]) -> list[dict[str, str]]:
        assert {value for _, value in found[ACCOUNT_INFO]} <= {1.0}
        return [labels for labels, _ in found[ACCOUNT_INFO]]

    assert ACCOUNT_INFO not in unlisted, "an account without a name has no series"
    assert names(samples) == [
        {"account_id": ACCOUNT, "account_name": "Management"},
        {"account_id": "210987654321", "account_name": "audit"},
    ]
    assert names(probed) == [{"account_id": "210987654321", "account_name": "audit"}]


def test_collect_reads_only_the_named_collectors_and_reporters(known_targets) -> None:
    fake = EveryTargetCollector(ReadPolicy())
    scraper = Scraper([fake], known_targets, ApiCallCounter(), names=["compliance"])
    reporter = FakeReporter(known_targets[0].account)
    reporter.last = (Reading(ACCOUNT, "us-east-1", True, 0.5), 1234.5)
    scraper.add_reporter(reporter)

    discovery_only = parse_exposition(exposition(scraper.metrics(Deadline.after(5), ["discovery"])))
    fake_only = parse_exposition(exposition(scraper.metrics(Deadline.after(5), ["fake"])))
    switched_off = parse_exposition(exposition(scraper.metrics(Deadline.after(5), ["compliance"])))
    with pytest.raises(UnknownCollectorError, match=r"unknown collectors \['nope'\]"):
        scraper.metrics(Deadline.after(5), ["nope", "fake"])
    scraper.close()

    assert fake.reads == 2, "collect[]=discovery read a target, or an unknown name did"
    assert FAKE not in discovery_only
    assert sorted(by_collector(discovery_only)) == [("discovery", "us-east-1")]
    assert ACCOUNTS in discovery_only
    assert "process_cpu_seconds_total" in discovery_only
    assert sorted(by_collector(fake_only)) == [("fake", "eu-west-1"), ("fake", "us-east-1")]
    assert SCRAPE_SUCCESS not in switched_off, "a collector the config leaves off read nothing"
    assert ACCOUNTS in switched_off


def test_a_probe_serves_the_api_calls_of_its_own_target_only() -> None:
    pack = SimulatedPack("baseline", "CREATE_COMPLETE", requested_at=1.0)
    with ConfigSimulator(Scenario({(ACCOUNT, region): [pack] for region in REGIONS})) as sim:
        counter = ApiCallCounter()
        account = make_account(REGIONS, sim.url, counter)
        scraper = make_scraper([Target(account, region) for region in REGIONS], counter)
        everything = served(scraper)
        probed = parse_exposition(
            exposition(
                scraper.probe({"account": ACCOUNT, "region": "eu-west-1"}, Deadline.after(5))
            )
        )
        scraper.close()

    def regions(samples) -> set[str]:
        return {labels["region"] for labels, _ in samples[f"{API_REQUESTS}_total"]}

    assert regions(everything) == {"us-east-1", "eu-west-1"}
    assert regions(probed) == {"eu-west-1"}, "another target's calls would be served twice"


class RegionRecordingCollector(EveryTargetCollector):
    """Records the region of each read, in the order the reads ran."""

    def __init__(self, policy: ReadPolicy) -> None:
        super().__init__(policy)
        self.regions: list[str] = []

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        self.regions.append(target.region)
        return super().read(target, deadline)


def test_a_dropped_target_s_queued_read_never_runs(known_targets) -> None:
    """Reads queued behind a slow one for targets dropped meanwhile (discovery closed their
    accounts) are cancelled: they would call AWS for accounts no longer read."""
    collector = RegionRecordingCollector(ReadPolicy(background=True))
    collector.release.clear()
    kept, dropped = known_targets
    # One worker: the kept target's read holds it, the dropped target's waits behind it.
    scraper = Scraper([collector], [kept, dropped], ApiCallCounter(), concurrency=1)
    try:
        served(scraper, timeout=0.1)
        scraper.set_targets([kept])
        collector.release.set()
        # The kept target's next read queues behind whatever is queued already.
        wait_for(
            lambda: served(scraper, timeout=0.1) and len(collector.regions) >= 2,
            10,
            "the kept target's second read",
            interval=0.01,
        )
    finally:
        collector.release.set()
        scraper.close()

    assert collector.regions[:2] == [kept.region, kept.region], "the dropped read ran"


def test_a_foreground_read_never_waits_behind_a_background_one(known_targets) -> None:
    slow = FakeCollector(ReadPolicy(background=True))
    slow.name = "slow"
    slow.release.clear()
    fast = FakeCollector(ReadPolicy())
    # One worker each: were the pool shared, the fast read would queue behind the slow one,
    # which is listed (and so started) first and holds its worker until released.
    scraper = Scraper([slow, fast], known_targets, ApiCallCounter(), concurrency=1)

    try:
        scrapes = [served(scraper, timeout=1.0) for _ in range(3)]
    finally:
        slow.release.set()
        scraper.close()

    for samples in scrapes:
        assert by_collector(samples)[("fake", "us-east-1")] == 1.0
    assert (slow.reads, fast.reads) == (1, 3)


def test_a_readings_lines_are_encoded_once_and_served_until_it_changes(
    known_targets, monkeypatch
) -> None:
    encoded: list[int] = []
    encode = encode_samples

    def counted(samples, escaped=None) -> bytes:
        encoded.append(1)
        return encode(samples, escaped)

    monkeypatch.setattr(encoded_samples, "encode_samples", counted)
    collector = FakeCollector(ReadPolicy(min_interval_seconds=1.0))
    scraper = fake_scraper(known_targets, collector)

    def blocks() -> list[bytes]:
        families = scraper.collect(Deadline.after(5))
        for ours, theirs in [(encode_text, generate_latest), (encode_openmetrics, openmetrics)]:
            assert ours(families) == theirs(Families(families))
        [family] = [family for family in families if family.name == FAKE]
        assert isinstance(family, EncodedFamily)
        return [block.lines for block in family.blocks]

    [first] = blocks()
    [again] = blocks()
    collector.value = 2.0
    [changed] = wait_for(lambda: (found := blocks()) != [first] and found, 10, "a new reading")
    [kept] = blocks()
    scraper.close()

    assert again == first
    assert changed == first.replace(b" 1.0\n", b" 2.0\n")
    assert kept == changed
    assert len(encoded) == collector.reads == 2, "a scrape encoded a reading it served before"


def test_merged_families_are_contiguous_with_one_header(known_targets) -> None:
    series = {
        region: [fake_sample(region, 2.0), fake_sample(f"{region}-b", 3.0)] for region in REGIONS
    }
    sharing = SharingCollector(ReadPolicy(), series)
    sharing.all_targets = True
    fake = EveryTargetCollector(ReadPolicy())
    scraper = Scraper([fake, sharing], known_targets, ApiCallCounter())

    families = scraper.collect(Deadline.after(5))
    scraper.close()

    for ours, theirs in [(encode_text, generate_latest), (encode_openmetrics, openmetrics)]:
        text = ours(families).decode()
        assert text.encode() == theirs(Families(families))
        lines = text.splitlines()
        start = lines.index(f"# TYPE {FAKE} gauge")
        ours_lines = [i for i, line in enumerate(lines) if line.startswith(f"{FAKE}{{")]
        assert ours_lines == list(range(start + 1, start + 1 + 3 * len(REGIONS)))
        assert text.count(f"# HELP {FAKE} ") == 1
        assert lines[start - 1] == f"# HELP {FAKE} A value the test controls."


class OtherCollector(EveryTargetCollector):
    """A second fake collector, with its own name."""

    name = "other"


def test_new_collectors_keep_the_reads_of_the_running_ones_and_drop_the_rest(
    known_targets,
) -> None:
    """A reload passes the running collector when its settings did not change: its reads of
    unchanged targets go on; one built anew reads again; one no longer given is dropped."""
    running = EveryTargetCollector(ReadPolicy(min_interval_seconds=3600))
    replaced = OtherCollector(ReadPolicy(min_interval_seconds=3600))
    scraper = Scraper([running, replaced], known_targets, ApiCallCounter())
    served(scraper)
    rebuilt = OtherCollector(ReadPolicy(min_interval_seconds=3600))

    scraper.set_targets(known_targets, [running, rebuilt])
    kept = served(scraper)
    scraper.set_targets(known_targets, [rebuilt])
    dropped = served(scraper)
    scraper.close()

    assert (running.reads, replaced.reads, rebuilt.reads) == (2, 2, 2)
    assert sorted(by_collector(kept)) == [
        ("fake", "eu-west-1"),
        ("fake", "us-east-1"),
        ("other", "eu-west-1"),
        ("other", "us-east-1"),
    ]
    assert sorted(by_collector(dropped)) == [("other", "eu-west-1"), ("other", "us-east-1")]
    assert scraper.collectors == (rebuilt,)


def test_a_resize_keeps_every_reading(known_targets) -> None:
    collector = EveryTargetCollector(ReadPolicy(min_interval_seconds=3600))
    scraper = Scraper([collector], known_targets, ApiCallCounter(), concurrency=1)
    served(scraper)

    scraper.resize(2)
    again = served(scraper)
    scraper.close()

    assert collector.reads == 2, "a reading was dropped by the resize"
    assert sorted(by_collector(again)) == [("fake", "eu-west-1"), ("fake", "us-east-1")]


def test_reporters_are_replaced_whole(known_targets) -> None:
    scraper = fake_scraper(known_targets, FakeCollector(ReadPolicy()))
    first, second = FakeReporter(known_targets[0].account), FakeReporter(known_targets[0].account)
    first.last = (Reading(ACCOUNT, "us-east-1", True, 0.5), 1.0)
    second.last = (Reading(ACCOUNT, "eu-west-1", False, 0.5), None)
    scraper.add_reporter(first)

    scraper.set_reporters([second])
    samples = served(scraper)
    scraper.close()

    assert by_collector(samples)[("discovery", "eu-west-1")] == 0.0
    assert ("discovery", "us-east-1") not in by_collector(samples)


def test_exporter_families_are_in_metrics_whatever_is_collected_and_never_in_probes(
    known_targets,
) -> None:
    scraper = fake_scraper(known_targets, FakeCollector(ReadPolicy()))
    asked = []

    def families() -> list[Metric]:
        asked.append(True)
        return gauge_families({"aws_config_test_state": "A state."}, {})

    scraper.add_exporter_families(families)
    every = parse_exposition(exposition(scraper.metrics(Deadline.after(5))))
    only = exposition(scraper.metrics(Deadline.after(5), ["fake"]))
    probed = exposition(scraper.probe({"account": ACCOUNT}, Deadline.after(5)))
    scraper.close()

    assert "# HELP aws_config_test_state A state." in only
    assert "aws_config_test_state" not in probed
    assert FAKE in every
    assert len(asked) == 2
