"""exporter/config.py: every fixture in tests/fixtures/config either loads or fails precisely,
and the keys the file accepts are exactly the dataclass fields."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import botocore.session
import pytest

from exporter.config import (
    AccountConfig,
    AggregatorConfig,
    ComplianceConfig,
    Config,
    ConfigError,
    OrganizationAccountsConfig,
    PipelineConfig,
    load_config,
    parse_config,
)

FIXTURES = Path(__file__).parent / "fixtures" / "config"
EXPECT = re.compile(r"^# expect: line=(\d+) key=(\S*) message=(.+)$")


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.ok.yml")), ids=lambda p: p.name)
def test_valid_configs_load(path: Path) -> None:
    assert isinstance(load_config(str(path)), Config)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.bad.yml")), ids=lambda p: p.name)
def test_invalid_configs_name_file_key_and_line(path: Path) -> None:
    expect = EXPECT.match(path.read_text().splitlines()[0])
    assert expect, f"{path.name} must start with an '# expect:' line"
    line, key, message = int(expect[1]), expect[2] or None, expect[3]

    with pytest.raises(ConfigError) as caught:
        load_config(str(path))

    error = caught.value
    assert (error.path, error.line, error.key) == (str(path), line, key)
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}: ")


def test_full_config_values_are_converted() -> None:
    config = load_config(str(FIXTURES / "full.ok.yml"))

    assert config == Config(
        regions=("us-east-1", "eu-west-1", "ap-southeast-2"),
        conformance_packs=("Operational-Best-Practices-for-CIS", "security-baseline"),
        export_status_reason=False,
        concurrency=4,
        connect_timeout_seconds=1.5,
        read_timeout_seconds=4.0,
        total_max_attempts=2,
        default_scrape_timeout_seconds=15.0,
        scrape_timeout_offset_seconds=1.0,
        compliance=ComplianceConfig(
            enabled=False,
            interval_seconds=60.5,
            noncompliant_resources=True,
            rule_series="noncompliant",
            remediation=True,
        ),
    )


def test_empty_file_gives_defaults() -> None:
    assert load_config(str(FIXTURES / "empty.ok.yml")) == Config()


def test_config_is_immutable() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.concurrency = 3  # type: ignore[misc]


def test_missing_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot read the file") as caught:
        load_config("/nonexistent/config.yml")
    assert caught.value.path == "/nonexistent/config.yml"


def test_too_many_pack_names_are_rejected() -> None:
    names = "\n".join(f"  - pack-{i}" for i in range(1001))
    with pytest.raises(ConfigError, match="at most 1000") as caught:
        parse_config(f"conformance_packs:\n{names}\n", "many.yml")
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("text", "key", "dataclass"),
    [
        ("region: us-east-1\n", "region", Config),
        ("accounts:\n  - region: us-east-1\n", "accounts[1].region", AccountConfig),
        ("compliance:\n  region: us-east-1\n", "compliance.region", ComplianceConfig),
        ("aggregators:\n  - regions: []\n", "aggregators[1].regions", AggregatorConfig),
        ("pipeline:\n  region: us-east-1\n", "pipeline.region", PipelineConfig),
        (
            "organization_accounts:\n  role: r\n",
            "organization_accounts.role",
            OrganizationAccountsConfig,
        ),
    ],
    ids=["top", "account", "compliance", "aggregator", "pipeline", "discovery"],
)
def test_the_known_keys_are_the_dataclass_fields(text: str, key: str, dataclass: type) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yml")

    known = ", ".join(field.name for field in fields(dataclass))
    assert caught.value.key == key
    assert caught.value.message == f"unknown key (known keys: {known})"


def test_compliance_defaults_apply_when_the_section_is_absent() -> None:
    compliance = parse_config("regions: [us-east-1]\n", "c.yml").compliance

    assert compliance == ComplianceConfig()
    assert (compliance.enabled, compliance.interval_seconds) == (True, 300.0)
    assert compliance.noncompliant_resources is False
    assert compliance.rule_series == "all"
    assert compliance.remediation is False


@pytest.mark.parametrize("mode", ["all", "noncompliant", "none"])
def test_every_rule_series_mode_is_read(mode: str) -> None:
    config = parse_config(f"compliance:\n  rule_series: {mode}\n", "c.yml")

    assert config.compliance == ComplianceConfig(rule_series=mode)  # type: ignore[arg-type]


def test_compliance_every_scrape_with_resources() -> None:
    config = load_config(str(FIXTURES / "compliance-every-scrape.ok.yml"))

    assert config.compliance == ComplianceConfig(
        enabled=True, interval_seconds=0.0, noncompliant_resources=True
    )


def test_remediation_is_read_with_the_rule_series_it_follows() -> None:
    config = load_config(str(FIXTURES / "compliance-remediation.ok.yml"))

    assert config.compliance == ComplianceConfig(rule_series="noncompliant", remediation=True)


def test_the_pipeline_is_on_by_default_every_five_minutes() -> None:
    pipeline = parse_config("regions: [us-east-1]\n", "c.yml").pipeline

    assert (pipeline.enabled, pipeline.interval_seconds) == (True, 300.0)


def test_the_pipeline_interval_is_read_and_its_rules_follow_compliance() -> None:
    config = load_config(str(FIXTURES / "pipeline-every-ten-minutes.ok.yml"))

    assert config.pipeline == PipelineConfig(enabled=True, interval_seconds=600.0)
    assert config.compliance == ComplianceConfig(rule_series="noncompliant")


def test_accounts_are_parsed() -> None:
    config = load_config(str(FIXTURES / "accounts.ok.yml"))

    first, audit, sandbox, home = config.accounts
    assert first.account_id == "111111111111"
    assert (first.external_id, first.regions) == ("org-monitoring-7f3a", ("ap-southeast-2",))
    assert (audit.name, audit.session_name, audit.duration_seconds) == ("audit", "cpe-audit", 900)
    assert (sandbox.profile, sandbox.account_id) == ("sandbox-readonly", "")
    assert (home.role_arn, home.profile, home.regions) == ("", "", ())
    assert config.min_interval_seconds == 30.0
    assert config.organization_conformance_packs is True


def test_a_misspelt_top_level_region_names_the_closest_known_one() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("regions:\n  - eu-west-1\n  - us-esat-1\n", "c.yml")

    assert str(caught.value) == (
        "c.yml:3: key 'regions': unknown region 'us-esat-1' (did you mean 'us-east-1'?)"
    )


def test_a_misspelt_account_region_names_the_account() -> None:
    text = "accounts:\n  - name: a\n  - name: b\n    regions: [eu-west-1, eu-wset-2]\n"

    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yml")

    assert str(caught.value) == (
        "c.yml:4: key 'accounts[2].regions': unknown region 'eu-wset-2' (did you mean 'eu-west-2'?)"
    )


def test_govcloud_china_and_sovereign_regions_are_accepted() -> None:
    config = load_config(str(FIXTURES / "partitions.ok.yml"))

    assert [account.regions for account in config.accounts] == [
        ("us-gov-west-1", "us-gov-east-1"),
        ("cn-north-1", "cn-northwest-1"),
        ("eusc-de-east-1",),
    ]
    assert config.allow_unknown_regions is False


def test_allow_unknown_regions_applies_wherever_the_key_is() -> None:
    config = load_config(str(FIXTURES / "allow-unknown-regions.ok.yml"))

    assert config.allow_unknown_regions is True
    assert config.regions == ("us-east-1", "zz-qqqq-9")
    assert config.accounts[0].regions == ("zz-qqqq-8",)


def test_allow_unknown_regions_false_still_checks() -> None:
    with pytest.raises(ConfigError, match="unknown region 'zz-qqqq-9'"):
        parse_config("allow_unknown_regions: false\nregions: [zz-qqqq-9]\n", "c.yml")


def test_aggregators_are_parsed() -> None:
    config = load_config(str(FIXTURES / "aggregators.ok.yml"))

    assert config.aggregators == (
        AggregatorConfig("organisation", "us-east-1"),
        AggregatorConfig("organisation", "eu-west-1", "management"),
        AggregatorConfig("audit_org-2", "eu-central-1", "222222222222"),
    )
    assert Config().aggregators == ()


def test_an_aggregator_in_a_region_only_another_account_reads_is_refused() -> None:
    text = (
        "accounts:\n  - name: a\n    regions: [us-east-1]\n"
        "  - {name: b, profile: b, regions: [eu-west-1]}\n"
        "aggregators:\n  - {name: org, region: eu-west-1}\n"
    )

    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yml")

    assert str(caught.value) == (
        "c.yml:6: key 'aggregators[1].region': account 'a' is not read in region 'eu-west-1';"
        " add the region to its `regions`"
    )


def test_organization_accounts_are_parsed() -> None:
    config = load_config(str(FIXTURES / "organization-accounts.ok.yml"))

    assert config.organization_accounts == OrganizationAccountsConfig(
        role_name="conformance-pack-exporter",
        external_id="an-external-id",
        regions=("us-east-1", "eu-west-1"),
        exclude=("111111111111",),
        refresh_interval_seconds=3600.0,
    )
    assert config.base_account == AccountConfig(regions=("us-east-1", "eu-west-1"))


def test_a_member_is_read_through_the_role_in_its_partition() -> None:
    settings = OrganizationAccountsConfig(
        role_name="audit/reader", external_id="x-id", duration_seconds=900, regions=("cn-north-1",)
    )

    member = settings.member("210987654321", "aws-cn")

    assert member.role_arn == "arn:aws-cn:iam::210987654321:role/audit/reader"
    assert (member.account_id, member.external_id, member.duration_seconds) == (
        "210987654321",
        "x-id",
        900,
    )
    assert member.regions == ("cn-north-1",)


def test_no_base_account_once_accounts_are_listed() -> None:
    config = parse_config(
        "regions: [us-east-1]\naccounts:\n  - profile: audit\n"
        "organization_accounts: {role_name: reader}\n",
        "c.yml",
    )

    assert config.base_account is None


@pytest.mark.parametrize(
    "where",
    [
        "accounts:\n  - role_arn: arn:aws:iam::111111111111:role/r\n    ",
        "organization_accounts:\n  role_name: r\n  ",
    ],
)
def test_an_invalid_external_id_is_never_quoted(where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"{where}external_id: 'secret value'\n", "c.yml")

    assert "external id" in str(caught.value)
    assert "secret" not in str(caught.value)


def _model_limit(shape: str) -> int:
    """The longest name botocore's AWS Config model allows, read the way AWS would check it."""
    model = botocore.session.get_session().get_service_model("config")
    return int(model.shape_for(shape).metadata["max"])


def test_pack_names_are_held_to_the_models_length() -> None:
    longest = _model_limit("ConformancePackName")
    fits, too_long = "p" * longest, "p" * (longest + 1)

    assert parse_config(f"conformance_packs: [{fits}]\n", "c.yml").conformance_packs == (fits,)
    with pytest.raises(ConfigError) as caught:
        parse_config(f"conformance_packs:\n  - ok\n  - {too_long}\n", "c.yml")

    assert str(caught.value) == (
        f"c.yml:3: key 'conformance_packs': item 2: conformance pack name of {longest + 1}"
        f" characters; at most {longest} are allowed"
    )


def test_aggregator_names_are_held_to_the_models_length() -> None:
    longest = _model_limit("ConfigurationAggregatorName")
    text = "regions: [us-east-1]\naggregators:\n  - {{name: {}, region: us-east-1}}\n"

    assert parse_config(text.format("a" * longest), "c.yml").aggregators[0].name == "a" * longest
    with pytest.raises(ConfigError) as caught:
        parse_config(text.format("a" * (longest + 1)), "c.yml")

    assert caught.value.key == "aggregators[1].name"
    assert caught.value.message == (
        f"aggregator name of {longest + 1} characters; at most {longest} are allowed"
    )


def test_min_interval_defaults_to_five_seconds() -> None:
    """Unauthenticated floods of /metrics or /probe read AWS at most once per target per 5 s."""
    assert parse_config("regions: [us-east-1]\n", "c.yml").min_interval_seconds == 5.0


def test_role_chaining_is_asked_about_only_for_long_sessions() -> None:
    def never() -> bool:
        raise AssertionError("asked although no session is longer than an hour")

    text = "accounts:\n  - role_arn: arn:aws:iam::222222222222:role/r\n    duration_seconds: 3600\n"
    assert parse_config(text, "c.yml", never).accounts[0].duration_seconds == 3600


@pytest.mark.parametrize("base_is_role", [False, None])
def test_long_sessions_are_kept_unless_the_base_is_a_role(base_is_role: bool | None) -> None:
    text = "organization_accounts: {role_name: r, duration_seconds: 43200}\n"
    config = parse_config(text, "c.yml", lambda: base_is_role)
    assert config.organization_accounts is not None
    assert config.organization_accounts.duration_seconds == 43200


def test_discovery_sessions_over_an_hour_are_refused_when_the_base_is_a_role() -> None:
    text = (
        "regions: [us-east-1]\norganization_accounts:\n  role_name: r\n  duration_seconds: 3601\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yml", lambda: True)
    assert str(caught.value).startswith("c.yml:4: key 'organization_accounts.duration_seconds': ")
    assert "role chaining" in str(caught.value)
