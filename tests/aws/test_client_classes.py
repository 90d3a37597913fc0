"""exporter/aws/client_classes.py: the clients of many accounts share one class per service,
and sessions register only the handlers the exporter's operations use."""

from __future__ import annotations

import botocore.handlers

from exporter.aws.client_classes import needed_handlers
from exporter.aws.credentials import client_config
from exporter.config import AccountConfig, Config
from tests.conftest import fake_credentials_sessions


def test_needed_handlers_are_botocore_s_handlers_for_every_service_and_ours() -> None:
    """Fails loudly when a botocore release changes the shape of BUILTIN_HANDLERS or stops
    registering the signer choice every client needs."""
    needed = {(event, getattr(handler, "__name__", "")) for event, handler, _ in needed_handlers()}

    assert ("choose-signer", "set_operation_specific_signer") in needed
    assert ("creating-client-class", "add_generate_presigned_url") in needed
    assert not any(event.startswith(("docs.", "before-parameter-build.s3")) for event, _ in needed)
    assert all(len(spec) in (2, 3) for spec in botocore.handlers.BUILTIN_HANDLERS)


def test_role_accounts_clients_share_one_class_per_service(simulator) -> None:
    """botocore would build each client's ~100 methods and their docstrings anew."""
    sessions = fake_credentials_sessions(simulator.url)
    roles = [
        AccountConfig(role_arn=f"arn:aws:iam::{account_id}:role/reader")
        for account_id in ("111111111111", "222222222222")
    ]
    config = client_config(Config())
    clients = [
        sessions.for_account(role, "us-east-1", lambda _: None, config).client(
            "config", region_name="us-east-1", endpoint_url=simulator.url, config=config
        )
        for role in roles
    ]

    first, second = (type(client) for client in clients)
    assert first is not second
    assert first.__bases__ == second.__bases__
    assert "describe_conformance_pack_status" not in vars(first)
    assert type(clients[0]).__name__ == "ConfigService"
    assert "ConformancePackStatusDetails" in clients[1].describe_conformance_pack_status()
