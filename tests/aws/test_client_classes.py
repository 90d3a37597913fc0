"""exporter/aws/client_classes.py: the clients of many accounts share one class per service,
and sessions register only the handlers the exporter's operations use."""

from __future__ import annotations

import inspect
from collections import deque

import boto3
import botocore.client
import botocore.handlers
import botocore.hooks
import botocore.session

from exporter.aws.client_classes import (
    LOOKUP_CACHE,
    MODEL_DESCRIPTION,
    MODEL_LOADER,
    CompactEmitter,
    needed_handlers,
)
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


def test_botocore_still_builds_each_client_s_model_where_it_is_shared() -> None:
    """Fails loudly when a botocore release renames or reshapes the private method the
    sharing wraps, or the attribute that holds a model's parsed file."""
    creator = botocore.client.ClientCreator
    parameters = list(inspect.signature(getattr(creator, MODEL_LOADER)).parameters)

    assert parameters == ["self", "service_name", "api_version"]
    model = botocore.session.get_session().get_service_model("config")
    assert isinstance(getattr(model, MODEL_DESCRIPTION), dict)


def test_every_client_of_a_service_shares_one_model(simulator) -> None:
    """botocore would build each client's model, and its shape caches, anew (~170 KB)."""
    sessions = fake_credentials_sessions(simulator.url)
    config = client_config(Config())
    role = AccountConfig(role_arn="arn:aws:iam::111111111111:role/reader")
    role_session = sessions.for_account(role, "us-east-1", lambda _: None, config)
    clients = [
        session.client("config", region_name=region, endpoint_url=simulator.url, config=config)
        for session in (role_session, boto3.Session(botocore_session=sessions.base))
        for region in ("us-east-1", "eu-west-1")
    ]
    sts = role_session.client("sts", region_name="us-east-1", endpoint_url=simulator.url)

    models = {id(client.meta.service_model) for client in clients}
    assert len(models) == 1
    assert sts.meta.service_model is not clients[0].meta.service_model
    assert "ConformancePackStatusDetails" in clients[0].describe_conformance_pack_status()
    assert "ConformancePackStatusDetails" in clients[3].describe_conformance_pack_status()


def test_botocore_s_emitter_still_caches_handlers_where_the_compact_one_keeps_tuples() -> None:
    """Fails loudly when a botocore release renames the lookup cache, stops replacing it on
    registration, or caches something other than the handlers in calling order."""
    emitter = botocore.hooks.HierarchicalEmitter()
    assert vars(emitter)[LOOKUP_CACHE] == {}
    emitter.register("before-call.config-service", lambda **_: None)
    emitter.emit("before-call.config-service.DescribeConformancePackStatus")
    emitter.emit("after-call.config-service.DescribeConformancePackStatus")
    cached = vars(emitter)[LOOKUP_CACHE]
    assert isinstance(cached["before-call.config-service.DescribeConformancePackStatus"], deque)
    assert not cached["after-call.config-service.DescribeConformancePackStatus"]


def emitted(emitter: botocore.hooks.HierarchicalEmitter) -> list[str]:
    """The handlers called, in order, over registrations, a copy and emits of every kind."""
    calls: list[str] = []
    emitter.register("needs-retry", lambda **_: calls.append("any"))
    emitter.register_first("needs-retry.config-service", lambda **_: calls.append("first"))
    emitter.register_last("needs-retry.config-service", lambda **_: calls.append("last"))
    emitter.register("needs-retry.config-service", lambda **_: calls.append("middle"))
    copied = emitter.__copy__()
    copied.register("needs-retry.config-service.ListThings", lambda **_: calls.append("copy"))
    for one in (emitter, copied, emitter):
        one.emit("needs-retry.config-service.DescribeConformancePackStatus")
        one.emit("needs-retry.config-service.ListThings")
        one.emit("after-call.sts.AssumeRole")
    calls.append(str(emitter.emit_until_response("needs-retry.config-service.ListThings")[1]))
    return calls


def test_the_compact_emitter_calls_what_botocore_s_calls_in_the_same_order() -> None:
    compact = CompactEmitter()

    assert emitted(compact) == emitted(botocore.hooks.HierarchicalEmitter())
    cached = compact._lookup_cache
    assert cached["after-call.sts.AssumeRole"] == ()
    assert all(isinstance(handlers, tuple) for handlers in cached.values())
    assert type(compact.__copy__()) is CompactEmitter


def test_role_sessions_clients_keep_compact_caches_and_share_the_settings(simulator) -> None:
    """A role account's clients cache their events' handlers as tuples under interned names,
    and its session reads the base session's settings rather than building its own."""
    sessions = fake_credentials_sessions(simulator.url)
    config = client_config(Config())
    clients = [
        sessions.for_account(
            AccountConfig(role_arn=f"arn:aws:iam::{account_id}:role/reader"),
            "us-east-1",
            lambda _: None,
            config,
        ).client("config", region_name="us-east-1", endpoint_url=simulator.url, config=config)
        for account_id in ("111111111111", "222222222222")
    ]
    for client in clients:
        assert "ConformancePackStatusDetails" in client.describe_conformance_pack_status()

    caches = [client.meta.events._emitter._lookup_cache for client in clients]
    assert all(isinstance(handlers, tuple) for cache in caches for handlers in cache.values())
    shared = set(caches[0]) & set(caches[1])
    assert shared
    names = [{event: event for event in cache} for cache in caches]
    assert all(names[0][event] is names[1][event] for event in shared), "names are interned"
    role_core = sessions.for_account(
        AccountConfig(role_arn="arn:aws:iam::333333333333:role/reader"),
        "us-east-1",
        lambda _: None,
        config,
    )._session
    assert role_core.get_component("config_store") is sessions.base.get_component("config_store")
