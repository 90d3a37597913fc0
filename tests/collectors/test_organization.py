"""exporter/collectors/organization.py against moto's server mode (a fake nobody here
wrote), over HTTP, plus Stubber cases moto can't produce (failed members with reasons,
unknown states).
"""

from __future__ import annotations

import botocore.session
import pytest
from botocore.stub import Stubber

from exporter.aws.accounts import Account
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import Target
from exporter.collection import ReadPolicy
from exporter.collectors.organization import OrganizationCollector
from exporter.config import Config, parse_config
from exporter.metrics import MEMBER_REASON, MEMBER_STATE, ORG_STATE, SCRAPE_SUCCESS
from exporter.scrape import Scraper
from tests.conftest import ACCOUNT, make_account, moto_client, scrape_samples, wait_for

MOTO_ACCOUNT = "123456789012"  # moto's default account


def collect(account: Account, timeout: float = 10.0):
    """What scrapes with the organization collector alone serve once its background read is
    done: the first scrape starts it and need not wait for it."""
    target = Target(account, "us-east-1")
    config = Config(organization_conformance_packs=True)
    collector = OrganizationCollector(config, target.client.meta.service_model)
    scraper = Scraper([collector], [target], ApiCallCounter())
    try:
        return wait_for(
            lambda: (samples := scrape_samples(scraper, timeout)).get(SCRAPE_SUCCESS) and samples,
            timeout,
            "the organization read",
            interval=0.01,
        )
    finally:
        scraper.close()


def test_read_in_the_background_every_interval() -> None:
    default = parse_config("organization_conformance_packs: true\n", "c.yml")
    hourly = parse_config(
        "organization_conformance_packs: true\norganization_interval_seconds: 3600\n", "c.yml"
    )
    model = botocore.session.get_session().get_service_model("config")

    policies = [OrganizationCollector(config, model).policy for config in (default, hourly)]

    assert policies == [ReadPolicy(300.0, background=True), ReadPolicy(3600.0, background=True)]


@pytest.mark.integration
def test_organization_packs_and_members_from_moto(moto_url) -> None:
    account = make_account(("us-east-1",), moto_url)
    client = account.clients["us-east-1"]
    # Deploying is not the exporter's business: a plain client sets moto up.
    setup = moto_client("config", moto_url)
    for name in ("org-security-baseline", "org-encryption"):
        setup.put_organization_conformance_pack(
            OrganizationConformancePackName=name, TemplateS3Uri="s3://b/t.yaml"
        )

    samples = collect(account)

    assert samples[SCRAPE_SUCCESS] == [
        ({"account_id": MOTO_ACCOUNT, "collector": "organization", "region": "us-east-1"}, 1.0)
    ]
    states = {
        (labels["organization_conformance_pack"], labels["state"]): value
        for labels, value in samples[ORG_STATE]
    }
    assert states[("org-security-baseline", "CREATE_SUCCESSFUL")] == 1.0
    assert states[("org-encryption", "CREATE_FAILED")] == 0.0
    model_states = client.meta.service_model.shape_for("OrganizationResourceStatus").enum
    assert sum(1 for pack, _ in states if pack == "org-encryption") == len(model_states)
    members = {
        (labels["organization_conformance_pack"], labels["member_account_id"])
        for labels, value in samples[MEMBER_STATE]
        if value == 1.0
    }
    assert members == {("org-security-baseline", MOTO_ACCOUNT), ("org-encryption", MOTO_ACCOUNT)}
    member_packs = {labels["conformance_pack"] for labels, _ in samples[MEMBER_STATE]}
    assert all(name.startswith("OrgConformsPack-org-") for name in member_packs)
    assert "aws_config_organization_conformance_pack_last_update_timestamp_seconds" in samples


def test_failed_member_with_reason_and_unknown_state() -> None:
    account = make_account(("us-east-1",))
    client = account.clients["us-east-1"]
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_organization_conformance_pack_statuses",
            {
                "OrganizationConformancePackStatuses": [
                    {
                        "OrganizationConformancePackName": "org-pci",
                        "Status": "UPDATE_FAILED",
                        "ErrorCode": "ConformancePackFailure",
                        "ErrorMessage": "1 member account failed",
                    }
                ]
            },
            {"Limit": 100},
        )
        stubber.add_response(
            "get_organization_conformance_pack_detailed_status",
            {
                "OrganizationConformancePackDetailedStatuses": [
                    {
                        "AccountId": "210987654321",
                        "ConformancePackName": "OrgConformsPack-org-pci-abc",
                        "Status": "UPDATE_FAILED",
                        "ErrorCode": "AccessDenied",
                        "ErrorMessage": 'Missing "AWSServiceRoleForConfigConforms"',
                    },
                    {
                        "AccountId": ACCOUNT,
                        "ConformancePackName": "OrgConformsPack-org-pci-abc",
                        "Status": "SUSPENDED",
                    },
                ]
            },
            {"OrganizationConformancePackName": "org-pci", "Limit": 100},
        )
        account.account_id = ACCOUNT
        samples = collect(account)

    [(reason, _)] = samples[MEMBER_REASON]
    assert (reason["member_account_id"], reason["error_code"]) == ("210987654321", "AccessDenied")
    assert reason["reason"] == 'Missing "AWSServiceRoleForConfigConforms"'
    suspended = [
        labels
        for labels, value in samples[MEMBER_STATE]
        if labels["member_account_id"] == ACCOUNT and value == 1.0
    ]
    assert [labels["state"] for labels in suspended] == ["SUSPENDED"]


def test_a_failed_read_reports_scrape_success_zero(caplog) -> None:
    account = make_account(("us-east-1",))
    account.account_id = ACCOUNT
    with Stubber(account.clients["us-east-1"]) as stubber:
        stubber.add_client_error(
            "describe_organization_conformance_pack_statuses",
            "OrganizationAccessDeniedException",
        )
        samples = collect(account)

    assert samples[SCRAPE_SUCCESS] == [
        ({"account_id": ACCOUNT, "collector": "organization", "region": "us-east-1"}, 0.0)
    ]
    assert ORG_STATE not in samples
    assert any(
        getattr(record, "error_code", "") == "OrganizationAccessDeniedException"
        for record in caplog.records
    )
