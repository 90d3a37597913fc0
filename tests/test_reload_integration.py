"""Reloading the configuration file while the exporter process serves (issue #23): SIGHUP and
`POST /-/reload` against the simulator's AWS Config and STS over real HTTP.

Accounts are added, removed, given a region; the file is broken and fixed; through all of it
the targets that stay keep their credentials, readings and call counts, and their compliance
series never leave a scrape.
"""

from __future__ import annotations

import base64
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from exporter.metrics import (
    API_REQUESTS,
    COMPLIANCE,
    LAST_SUCCESS,
    RELOAD_SUCCESS_TIME,
    RELOAD_SUCCESSFUL,
    RULE_COMPLIANCE,
    SCRAPE_SUCCESS,
    STATE,
)
from exporter.simulator import ConfigSimulator, Fault, Scenario, SimulatedPack, SimulatedRule
from tests.certs import bcrypt_hash
from tests.conftest import (
    ACCOUNT,
    ExporterProcess,
    Organization,
    aws_env,
    parse_exposition,
    wait_for,
)

pytestmark = pytest.mark.integration

A, B, C = "111111111111", "222222222222", "333333333333"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
ROLE = "arn:aws:iam::{}:role/reader"
Samples = dict[str, list[tuple[dict[str, str], float]]]


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    """One pack of two rules (one failing) in every region of every account."""
    pack = SimulatedPack(
        "baseline",
        "CREATE_COMPLETE",
        requested_at=time.time() - 600,
        rules=(SimulatedRule("s3-versioning"), SimulatedRule("iam-root-key", "NON_COMPLIANT", 2)),
        score=50.0,
    )
    packs = {(account, region): [pack] for account in (A, B, C) for region in REGIONS}
    with ConfigSimulator(Scenario(packs)) as sim:
        yield sim


def account(name: str, account_id: str, *regions: str) -> str:
    role, listed = ROLE.format(account_id), ", ".join(regions)
    return f"  - {{name: {name}, role_arn: '{role}', regions: [{listed}]}}\n"


def config(*accounts: str, compliance: str = "{interval_seconds: 300}") -> str:
    """Every scrape reads pack status; compliance in the background; no pipeline."""
    return (
        f"min_interval_seconds: 0\ncompliance: {compliance}\npipeline: {{enabled: false}}\n"
        f"accounts:\n{''.join(accounts)}"
    )


def start(
    simulator: ConfigSimulator, exporter_factory: Any, path: Path, text: str, *flags: str
) -> ExporterProcess:
    path.write_text(text)
    process: ExporterProcess = exporter_factory(
        [f"--config.file={path}", *flags], aws_env(simulator.url)
    )
    return process


def post(
    process: ExporterProcess, path: str, headers: Mapping[str, str] | None = None
) -> tuple[int, Mapping[str, str], bytes]:
    request = urllib.request.Request(process.url + path, method="POST", headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def read(samples: Samples, name: str, collector: str = "") -> set[tuple[str, str]]:
    """The (account, region) pairs with a series of `name` (of `collector`'s reads)."""
    return {
        (labels["account_id"], labels["region"])
        for labels, _ in samples.get(name, [])
        if not collector or labels.get("collector") == collector
    }


def value(samples: Samples, name: str, collector: str = "") -> float:
    """The one sample of `name` (of `collector`'s reads)."""
    [found] = [v for labels, v in samples[name] if labels.get("collector", "") == collector]
    return found


def assumed(simulator: ConfigSimulator, account_id: str) -> int:
    return sum(call.role_arn == ROLE.format(account_id) for call in simulator.assume_role_calls)


def status_reads(samples: Samples, account_id: str) -> dict[str, float]:
    """The account's successful pack-status calls so far, by region."""
    return {
        labels["region"]: count
        for labels, count in samples[f"{API_REQUESTS}_total"]
        if labels["account_id"] == account_id
        and labels["operation"] == "DescribeConformancePackStatus"
        and labels["outcome"] == "success"
    }


def scrape_until(process: ExporterProcess, check: Any, what: str) -> Samples:
    found: Samples = wait_for(
        lambda: check(samples := parse_exposition(process.scrape())) and samples, 30, what, 0.1
    )
    return found


class Watch:
    """Scrapes in a loop on its own thread, recording each scrape's compliance targets."""

    def __init__(self, process: ExporterProcess) -> None:
        self.seen: list[set[tuple[str, str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(process,), daemon=True)
        self._thread.start()

    def _run(self, process: ExporterProcess) -> None:
        while not self._stop.is_set():
            self.seen.append(read(parse_exposition(process.scrape()), COMPLIANCE))

    def stop(self) -> list[set[tuple[str, str]]]:
        self._stop.set()
        self._thread.join(30)
        return self.seen


def test_accounts_and_regions_come_and_go_and_a_bad_file_changes_nothing(
    simulator, exporter_factory, tmp_path
) -> None:
    path = tmp_path / "config.yml"
    process = start(
        simulator,
        exporter_factory,
        path,
        config(account("a", A, "us-east-1", "eu-west-1"), account("b", B, "us-east-1")),
    )
    a_targets = {(A, "us-east-1"), (A, "eu-west-1")}
    before = scrape_until(
        process,
        lambda s: read(s, COMPLIANCE) == {*a_targets, (B, "us-east-1")},
        "the first compliance reads",
    )
    a_assumed, b_assumed = assumed(simulator, A), assumed(simulator, B)
    assert (a_assumed, b_assumed) == (1, 1)

    # (1) An account and a region added, by SIGHUP, while scrapes run throughout.
    watch = Watch(process)
    wait_for(lambda: len(watch.seen) >= 3, 10, "scrapes before the reload", 0.05)
    path.write_text(
        config(
            account("a", A, "us-east-1", "eu-west-1"),
            account("b", B, "us-east-1", "ap-southeast-2"),
            account("c", C, "eu-west-1"),
        )
    )
    process.process.send_signal(signal.SIGHUP)
    added = {(B, "ap-southeast-2"), (C, "eu-west-1")}
    after = scrape_until(process, lambda s: added <= read(s, STATE), "the added targets")
    process.wait_for_log(r'msg="configuration reloaded".*accounts_kept=2 accounts_added=1 ')
    reloaded = len(watch.seen)
    wait_for(lambda: len(watch.seen) >= reloaded + 3, 10, "scrapes after the reload", 0.05)
    seen = watch.stop()

    assert all(a_targets <= targets for targets in seen), "A's compliance left a scrape"
    # B gained a region: its first region's readings and credentials stay too.
    assert all((B, "us-east-1") in targets for targets in seen), "B's compliance left a scrape"
    assert assumed(simulator, A) == a_assumed, "A's role was assumed again"
    assert assumed(simulator, B) == b_assumed, "B's role was assumed again"
    assert assumed(simulator, C) == 1, "C was warmed up before it was read"
    a_before, a_after = status_reads(before, A), status_reads(after, A)
    assert all(a_after[region] > a_before[region] for region in a_before), "A's counter reset"
    assert read(after, STATE, "") == {*a_targets, (B, "us-east-1"), *added}
    assert value(after, RELOAD_SUCCESSFUL) == 1.0
    reloaded_at = value(after, RELOAD_SUCCESS_TIME)
    assert reloaded_at > value(before, RELOAD_SUCCESS_TIME)

    # (2) An account removed through the HTTP endpoint: gone from the next scrape on.
    path.write_text(config(account("a", A, "us-east-1", "eu-west-1"), account("c", C, "eu-west-1")))
    status, _, body = post(process, "/-/reload")
    assert (status, body) == (200, f"{path}: reloaded\n".encode())
    removed = parse_exposition(process.scrape())
    assert {account for account, _ in read(removed, SCRAPE_SUCCESS)} == {A, C}
    assert B not in {labels["account_id"] for labels, _ in removed[f"{API_REQUESTS}_total"]}

    # (3) A broken file: refused with the start-up's line, the previous configuration serves.
    path.write_text(
        config(account("a", A, "us-east-1"), account("c", C, "eu-west-1")) + "concurrency: many\n"
    )
    status, _, body = post(process, "/-/reload")
    refusal = f"configuration error: {path}:7: key 'concurrency': expected an integer, got str"
    assert (status, body.decode()) == (500, f"{refusal}\n")
    broken = parse_exposition(process.scrape())
    assert value(broken, RELOAD_SUCCESSFUL) == 0.0
    assert value(broken, RELOAD_SUCCESS_TIME) == value(removed, RELOAD_SUCCESS_TIME)
    assert read(broken, STATE) == {*a_targets, (C, "eu-west-1")}, "the broken file was applied"
    logged = process.wait_for_log(r'level=error .*msg="configuration not reloaded.*')
    assert 'msg="configuration not reloaded, the previous one keeps serving"' in logged[0]
    assert refusal in logged[0].replace('\\"', '"')

    # (4) Fixed, by SIGHUP: reloaded, and the time of the last success moves on.
    path.write_text(config(account("a", A, "us-east-1", "eu-west-1"), account("c", C, "eu-west-1")))
    process.process.send_signal(signal.SIGHUP)
    fixed = scrape_until(process, lambda s: value(s, RELOAD_SUCCESSFUL) == 1.0, "the fixed file")
    assert value(fixed, RELOAD_SUCCESS_TIME) > value(broken, RELOAD_SUCCESS_TIME)
    assert read(fixed, STATE) == {*a_targets, (C, "eu-west-1")}
    assert assumed(simulator, A) == a_assumed
    process.wait_for_log(r"reloaded.* accounts_kept=2 accounts_added=0 accounts_removed=0")
    assert sum("level=error" in line for line in process.log_lines) == 1, "one line per failure"


def test_a_reload_changing_rule_series_takes_effect(simulator, exporter_factory, tmp_path) -> None:
    path = tmp_path / "config.yml"
    accounts = account("a", A, "us-east-1")
    process = start(simulator, exporter_factory, path, config(accounts))
    scrape_until(process, lambda s: s.get(RULE_COMPLIANCE), "the per-rule series")

    path.write_text(config(accounts, compliance="{interval_seconds: 300, rule_series: none}"))
    assert post(process, "/-/reload")[0] == 200

    samples = scrape_until(
        process,
        lambda s: s.get(COMPLIANCE) and not s.get(RULE_COMPLIANCE),
        "the compliance read without per-rule series",
    )
    assert read(samples, COMPLIANCE) == {(A, "us-east-1")}
    process.wait_for_log(r'msg="configuration reloaded".*collectors_rebuilt=compliance\b')


def test_the_endpoint_takes_only_post_and_is_behind_basic_auth(
    simulator, exporter_factory, tmp_path
) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: {bcrypt_hash('secret')}\n")
    credentials = base64.b64encode(b"prometheus:secret").decode()
    authorized = {"Authorization": f"Basic {credentials}"}
    process = start(
        simulator,
        exporter_factory,
        tmp_path / "config.yml",
        config(account("a", A, "us-east-1")),
        f"--web.config.file={web}",
    )

    assert post(process, "/-/reload")[0] == 401
    status, headers, _ = process.get("/-/reload", authorized)
    assert (status, headers["Allow"]) == (405, "POST")
    assert post(process, "/-/reload", authorized)[0] == 200
    process.wait_for_log(r'\blevel=info\b.*msg="configuration reloaded"')


def test_without_a_config_file_a_reload_changes_nothing_and_succeeds(
    simulator, exporter_factory
) -> None:
    process: ExporterProcess = exporter_factory([], aws_env(simulator.url))

    status, _, body = post(process, "/-/reload")

    assert (status, body) == (200, b"nothing to reload: the exporter runs without --config.file\n")
    assert value(parse_exposition(process.scrape()), RELOAD_SUCCESSFUL) == 1.0


@pytest.fixture
def members(organization: Organization) -> dict[str, str]:
    return {name: organization.create(name) for name in ("kept", "excluded")}


@pytest.fixture
def org_simulator(members: dict[str, str]) -> Iterator[ConfigSimulator]:
    pack = SimulatedPack("baseline", "CREATE_COMPLETE", requested_at=time.time() - 600)
    packs = {(account, "us-east-1"): [pack] for account in (ACCOUNT, *members.values())}
    with ConfigSimulator(Scenario(packs)) as sim:
        yield sim


def test_discovered_accounts_that_stay_are_kept_and_the_discovery_goes_on(
    org_simulator, members, moto_url, exporter_factory, tmp_path
) -> None:
    kept, excluded = members["kept"], members["excluded"]
    discovery = "organization_accounts:\n  role_name: reader\n"
    settings = "regions: [us-east-1]\nmin_interval_seconds: 0\ncompliance: {enabled: false}\n"
    path = tmp_path / "config.yml"
    path.write_text(settings + discovery)
    env = aws_env(org_simulator.url, AWS_ENDPOINT_URL_ORGANIZATIONS=moto_url)
    process: ExporterProcess = exporter_factory([f"--config.file={path}"], env)
    everyone = {(account, "us-east-1") for account in (ACCOUNT, kept, excluded)}
    first = scrape_until(process, lambda s: read(s, STATE) == everyone, "the organisation")
    assert read(first, SCRAPE_SUCCESS, "discovery") == {(ACCOUNT, "us-east-1")}
    listed_at = value(first, LAST_SUCCESS, "discovery")

    path.write_text(f"{settings}{discovery}  exclude: ['{excluded}']\n")
    assert post(process, "/-/reload")[0] == 200

    # The last list goes on, less the excluded account, before the next listing ends.
    at_once = parse_exposition(process.scrape())
    assert read(at_once, STATE) == everyone - {(excluded, "us-east-1")}
    assert read(at_once, SCRAPE_SUCCESS, "discovery") == {(ACCOUNT, "us-east-1")}
    assert process.get("/-/ready")[0] == 200
    relisted = scrape_until(
        process,
        lambda s: value(s, LAST_SUCCESS, "discovery") > listed_at,
        "a listing by the new discovery",
    )
    assert read(relisted, STATE) == everyone - {(excluded, "us-east-1")}
    assert [call.role_arn.split(":")[4] for call in org_simulator.assume_role_calls].count(
        kept
    ) == 1, "the kept member's role was assumed again"


def test_a_sighup_before_the_exporter_serves_is_a_reload_once_it_does(
    simulator, exporter_factory, tmp_path
) -> None:
    """A config reloader's SIGHUP racing the start neither kills the process nor is lost: the
    start is held in the STS call that tells a profile's account apart from the default one."""
    aws_config = tmp_path / "aws-config"
    aws_config.write_text(
        "[profile p]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n"
    )
    path = tmp_path / "config.yml"
    path.write_text(
        "regions: [us-east-1]\ncompliance: {enabled: false}\npipeline: {enabled: false}\n"
        "accounts:\n  - {name: p, profile: p}\n  - {name: home}\n"
    )
    simulator.add_fault(Fault("hang", operation="GetCallerIdentity", seconds=2, count=1))
    process = exporter_factory(
        [f"--config.file={path}"],
        aws_env(simulator.url, AWS_CONFIG_FILE=str(aws_config)),
        wait=False,
    )
    wait_for(
        lambda: simulator.calls(operation="GetCallerIdentity") >= 1, 20, "the start's STS call"
    )
    process.process.send_signal(signal.SIGHUP)

    process.wait_until_listening()
    process.wait_for_log(r'msg="configuration reloaded"')
    assert process.process.poll() is None
