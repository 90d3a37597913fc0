"""exporter/aws/client_classes.py: the clients of many accounts share one class per service,
and sessions register only the handlers the exporter's operations use."""

from __future__ import annotations

import copy
import inspect
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.client
import botocore.handlers
import botocore.hooks
import botocore.paginate
import botocore.session

from exporter.aws.accounts import Account
from exporter.aws.client_classes import (
    ALIAS_CACHE,
    CLASS_MAKER,
    ENDPOINT_PROVIDER,
    EVENT_ALIASES,
    HANDLERS,
    LOOKUP_CACHE,
    MODEL_DESCRIPTION,
    MODEL_LOADER,
    PAGINATOR_CONFIG,
    PARAMETER_DEFINITIONS,
    RULESET_RESOLVER,
    CompactEmitter,
    needed_events,
    needed_handlers,
    new_paginator,
)
from exporter.aws.credentials import client_config
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.shared_trie import PREFIX_TRIE, TRIE_ROOT, SharedTrie
from exporter.collectors import IAM_ACTIONS
from exporter.config import AccountConfig, Config
from tests.conftest import ACCOUNT, fake_credentials_sessions


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
    assert first is second
    assert "describe_conformance_pack_status" not in vars(first)
    assert type(clients[0]).__name__ == "ConfigService"
    assert "ConformancePackStatusDetails" in clients[1].describe_conformance_pack_status()


def test_botocore_still_builds_each_client_s_model_where_it_is_shared() -> None:
    """Fails loudly when a botocore release renames or reshapes the private method the
    sharing wraps, or the attribute that holds a model's parsed file."""
    creator = botocore.client.ClientCreator
    parameters = list(inspect.signature(getattr(creator, MODEL_LOADER)).parameters)

    assert parameters == ["self", "service_name", "api_version"]
    maker = list(inspect.signature(getattr(creator, CLASS_MAKER)).parameters)
    assert maker == ["self", "service_name", "service_model"]
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


def test_botocore_still_keeps_the_parts_clients_share_where_they_are_shared(simulator) -> None:
    """Fails loudly when a botocore release renames the private attributes through which
    clients share paginator settings, event aliases, endpoint rulesets and handler tries."""
    client = botocore.session.get_session().create_client(
        "config", region_name="us-east-1", endpoint_url=simulator.url
    )
    settings = getattr(client.get_paginator("describe_conformance_packs"), PAGINATOR_CONFIG)
    events = vars(client.meta.events)
    resolver = vars(client)[RULESET_RESOLVER]
    emitter = vars(botocore.hooks.HierarchicalEmitter())

    assert settings["input_token"] == "NextToken"
    assert inspect.signature(botocore.paginate.Paginator).parameters.keys() == {
        "method",
        "pagination_config",
        "model",
    }
    assert events[EVENT_ALIASES] == botocore.hooks.EVENT_ALIASES
    assert isinstance(events[ALIAS_CACHE], dict)
    assert vars(resolver)[PARAMETER_DEFINITIONS] is (
        vars(resolver)[ENDPOINT_PROVIDER].ruleset.parameters
    )
    assert type(emitter[HANDLERS]) is getattr(botocore.hooks, PREFIX_TRIE)
    assert set(vars(emitter[HANDLERS])) == {TRIE_ROOT}


def test_clients_of_many_accounts_share_aliases_rulesets_and_paginator_settings(
    simulator,
) -> None:
    """What botocore builds for each client, shared, still finds the simulator and pages."""
    sessions = fake_credentials_sessions(simulator.url)
    regions = ("us-east-1", "eu-west-1")
    clients = [
        Account(sessions, role, regions, Config(), ApiCallCounter(), IAM_ACTIONS).clients[region]
        for role in (
            AccountConfig(role_arn=f"arn:aws:iam::{account_id}:role/reader")
            for account_id in (ACCOUNT, "222222222222")
        )
        for region in regions
    ]

    resolvers = [vars(client)[RULESET_RESOLVER] for client in clients]
    assert len({id(vars(resolver)[ENDPOINT_PROVIDER]) for resolver in resolvers}) == 1
    assert len({id(vars(client.meta.events)[ALIAS_CACHE]) for client in clients}) == 1
    paginators = [new_paginator(client, "describe_conformance_pack_status") for client in clients]
    assert type(paginators[0]) is botocore.paginate.Paginator
    assert all(client.meta.endpoint_url == simulator.url for client in clients)
    paging = {"PaginationConfig": {"PageSize": 20}}
    pages = [list(paginator.paginate(**paging)) for paginator in paginators]
    built = clients[0].get_paginator("describe_conformance_pack_status")
    expected = list(built.paginate(**paging))
    assert len(pages[0]) == 3
    assert [page["ConformancePackStatusDetails"] for page in pages[2]] == [[]]
    assert [page["ConformancePackStatusDetails"] for page in pages[0]] == [
        page["ConformancePackStatusDetails"] for page in expected
    ]


def test_copies_of_a_shared_trie_change_apart_and_share_the_rest() -> None:
    """A copy shares every node until a change passes through it, in the copy or the original."""
    original = SharedTrie()
    for key, handler in (("needs-retry.config-service", "a"), ("after-call.sts", "b")):
        original.append_item(key, handler)
    original.append_item("before-call.config-service", "d")
    copied = copy.copy(original)

    copied.append_item("needs-retry.config-service", "c")
    original.remove_item("after-call.sts", "b")

    assert list(original.prefix_search("needs-retry.config-service.ListThings")) == ["a"]
    assert list(copied.prefix_search("needs-retry.config-service.ListThings")) == ["a", "c"]
    assert list(copied.prefix_search("after-call.sts.AssumeRole")) == ["b"]
    assert not original.prefix_search("after-call.sts.AssumeRole")
    roots = [vars(trie)[TRIE_ROOT]["children"] for trie in (original, copied)]
    assert roots[0]["before-call"] is roots[1]["before-call"]
    assert roots[0]["needs-retry"] is not roots[1]["needs-retry"]


def test_copies_made_and_changed_on_many_threads_keep_their_own_handlers() -> None:
    """Clients are made on many worker threads at once, each copying its session's trie."""
    session = SharedTrie()
    session.append_item("needs-retry.config-service", "session")

    def client(number: int) -> list[str]:
        copied = copy.copy(session)
        copied.append_item("needs-retry.config-service", f"client-{number}")
        copied.remove_item("needs-retry.config-service", "session")
        copied.append_item("needs-retry", "any")
        return list(copied.prefix_search("needs-retry.config-service.ListThings"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(client, range(200)))

    assert found == [[f"client-{number}", "any"] for number in range(200)]
    assert list(session.prefix_search("needs-retry.config-service.ListThings")) == ["session"]


def test_role_sessions_share_the_needed_handlers_trie() -> None:
    first, second = needed_events(), needed_events()
    roots = [vars(vars(events)[HANDLERS])[TRIE_ROOT] for events in (first, second)]

    assert roots[0] is roots[1]
    second.register("needs-retry.config-service", lambda **_: None)
    event = "needs-retry.config-service.ListThings"
    assert len(second.emit(event)) == len(first.emit(event)) + 1
