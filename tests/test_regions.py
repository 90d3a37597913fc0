"""exporter/regions.py: the regions botocore knows for AWS Config, the closest one to a typo,
and the environment variables checked like the config file's regions."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import botocore
import botocore.session
import pytest

from exporter.config import ConfigError, parse_config
from exporter.regions import (
    REGION_PATTERN,
    check_environment_regions,
    closest_region,
    known_regions,
    region_problem,
)


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """known_regions read again, and again after the test: a patched botocore doesn't leak."""
    known_regions.cache_clear()
    yield
    known_regions.cache_clear()


class _OlderBotocore:
    """The installed botocore with one region taken out of its data: a botocore older than it."""

    def __init__(self, real: botocore.session.Session, missing: str) -> None:
        self.real = real
        self.missing = missing

    def get_available_partitions(self) -> list[str]:
        return list(self.real.get_available_partitions())

    def get_available_regions(self, service: str, partition_name: str) -> list[str]:
        regions = self.real.get_available_regions(service, partition_name=partition_name)
        return [region for region in regions if region != self.missing]

    def get_data(self, path: str) -> Any:
        data = copy.deepcopy(self.real.get_data(path))
        for partition in data["partitions"]:
            partition["regions"].pop(self.missing, None)
        return data


def test_every_region_botocore_lists_for_config_is_known() -> None:
    session = botocore.session.get_session()
    listed = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("config", partition_name=partition)
    }

    assert listed <= known_regions()
    assert {"us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1"} <= known_regions()


def test_partition_regions_are_known_but_not_pseudo_regions() -> None:
    partitions = botocore.session.get_session().get_data("partitions")["partitions"]
    named = {region for partition in partitions for region in partition["regions"]}

    assert {region for region in named if REGION_PATTERN.fullmatch(region)} <= known_regions()
    assert "aws-global" in named
    assert not {"aws-global", "aws-cn-global", "aws-us-gov-global"} & known_regions()


def test_known_regions_are_read_from_botocore_once(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = botocore.session.get_session
    calls = []

    def counted() -> botocore.session.Session:
        calls.append(1)
        return real()

    monkeypatch.setattr(botocore.session, "get_session", counted)

    assert known_regions() is known_regions()
    assert calls == [1]


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "ap-southeast-5",  # Malaysia, 2024
        "mx-central-1",  # Mexico, 2025
        "us-gov-west-1",
        "us-gov-east-1",
        "cn-north-1",
        "cn-northwest-1",
        "eusc-de-east-1",  # the European Sovereign Cloud
    ],
)
def test_real_regions_are_accepted(region: str) -> None:
    assert region_problem(region) is None


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [
        ("us-esat-1", "us-east-1"),  # a transposition, not us-west-1's substitution
        ("eu-wset-2", "eu-west-2"),
        ("US_EAST_1", "us-east-1"),
        ("useast1", "us-east-1"),
        ("us-gov-wset-1", "us-gov-west-1"),
        ("cn-nort-1", "cn-north-1"),
    ],
)
def test_a_typo_gets_the_closest_known_region(typed: str, suggestion: str) -> None:
    assert closest_region(typed) == suggestion
    assert region_problem(typed) == f"unknown region {typed!r} (did you mean {suggestion!r}?)"


def test_a_name_like_no_region_gets_no_suggestion_but_the_way_out() -> None:
    assert closest_region("zz-qqqq-9") is None
    assert region_problem("zz-qqqq-9") == (
        f"unknown region 'zz-qqqq-9' (not known to botocore {botocore.__version__}; for a "
        "region newer than that, upgrade botocore or set allow_unknown_regions: true)"
    )


def test_allow_unknown_accepts_any_well_formed_name_only() -> None:
    assert region_problem("zz-qqqq-9", allow_unknown=True) is None
    assert region_problem("us-esat-1", allow_unknown=True) is None
    assert region_problem("US_EAST_1", allow_unknown=True) == (
        "unknown region 'US_EAST_1' (did you mean 'us-east-1'?)"
    )


def test_a_region_newer_than_botocore_needs_the_way_out(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = _OlderBotocore(botocore.session.get_session(), "mx-central-1")
    monkeypatch.setattr(botocore.session, "get_session", lambda: older)
    text = "regions: [us-east-1, mx-central-1]\n"

    assert "mx-central-1" not in known_regions()
    with pytest.raises(ConfigError, match=r"unknown region 'mx-central-1'") as caught:
        parse_config(text, "c.yml")
    assert caught.value.line == 1
    config = parse_config(text + "allow_unknown_regions: true\n", "c.yml")
    assert config.regions == ("us-east-1", "mx-central-1")
    assert config.allow_unknown_regions is True


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_a_misspelt_environment_region_names_the_variable(variable: str) -> None:
    environ = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", variable: "us-esat-1"}

    with pytest.raises(ConfigError) as caught:
        check_environment_regions(environ)

    assert str(caught.value) == (
        f"environment variable {variable}: unknown region 'us-esat-1' (did you mean 'us-east-1'?)"
    )
    assert (caught.value.line, caught.value.key) == (None, None)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"AWS_REGION": "", "AWS_DEFAULT_REGION": ""},
        {"AWS_REGION": "us-gov-west-1"},
        {"AWS_DEFAULT_REGION": "cn-north-1", "AWS_REGION": "ap-southeast-5"},
        {"HOME": "us-esat-1"},
    ],
    ids=["unset", "empty", "govcloud", "china-and-new", "other-variables"],
)
def test_known_or_absent_environment_regions_pass(environ: dict[str, str]) -> None:
    check_environment_regions(environ)


def test_allow_unknown_lets_a_newer_environment_region_through() -> None:
    check_environment_regions({"AWS_REGION": "zz-qqqq-9"}, allow_unknown=True)
    with pytest.raises(ConfigError, match="not known to botocore"):
        check_environment_regions({"AWS_REGION": "zz-qqqq-9"})
