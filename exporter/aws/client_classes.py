"""What the clients of many accounts share: one class per service for the whole process, and
only the built-in botocore handlers the exporter's operations use. botocore builds both anew for
every session and client (about 0.6 MB per role account), through public interfaces: the
`creating-client-class` event, `include_builtin_handlers` and `BUILTIN_HANDLERS`. What else
botocore builds per client and only reads (paginator settings, event aliases, endpoint
rulesets, the trie of handlers) is shared too. The private interfaces this takes (each
client's service model and class, its event emitter's lookup cache and trie, …) are named
here as constants, and tests/aws/test_client_classes.py fails when a botocore release changes
them."""

from __future__ import annotations

import copy
import functools
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import botocore.client
import botocore.handlers
import botocore.hooks
import botocore.model
import botocore.paginate
import botocore.session

from exporter.aws.hooks import UNNEEDED_HANDLERS
from exporter.aws.shared_trie import SharedTrie

# The services the exporter makes clients of, by botocore service id.
SERVICE_IDS = frozenset({"config-service", "sts", "organizations"})


def needed_handlers() -> list[tuple[str, Callable[..., Any], object]]:
    """(event, handler, position) of botocore's built-in handlers the exporter's clients use:
    those of every service or of `SERVICE_IDS`, less the ones that only write documentation
    and `UNNEEDED_HANDLERS` (which `fit_client` takes off each client, whatever its session,
    copying the nodes of the trie they hang on). Each client copies its session's handlers:
    with all 127 of them, 86 KB; with these, a few."""
    needed = []
    for event, handler, *position in botocore.handlers.BUILTIN_HANDLERS:
        parts = str(event).split(".")
        if getattr(handler, "__name__", None) in UNNEEDED_HANDLERS:
            continue
        if parts[0] != "docs" and (len(parts) == 1 or parts[1] == "*" or parts[1] in SERVICE_IDS):
            needed.append((str(event), handler, position[0] if position else None))
    return needed


_NEEDED = needed_handlers()


@functools.cache
def _needed_template() -> CompactEmitter:
    events = CompactEmitter()
    aliased = botocore.hooks.EventAliaser(events)
    for event, handler, position in _NEEDED:
        if position is botocore.handlers.REGISTER_FIRST:
            aliased.register_first(event, handler)
        elif position is botocore.handlers.REGISTER_LAST:
            aliased.register_last(event, handler)
        else:
            aliased.register(event, handler)
    aliased.register_last("creating-client-class", _share_client_class, unique_id=_SHARE_ID)
    return events


def needed_events() -> CompactEmitter:
    """The event emitter of a session made with `include_builtin_handlers=False`: it holds
    `needed_handlers`, each first, last or in between, as botocore registers its own. A copy
    of one built once, so every such session shares its handlers' trie (~5 KB each)."""
    return copy.copy(_needed_template())


_SHARE_ID = "exporter-share-client-class"
_CLASSES: dict[tuple[str, tuple[type, ...]], type] = {}
_CLASSES_LOCK = threading.Lock()


def _share_client_class(
    class_attributes: dict[str, Any], base_classes: list[type], event_name: str, **_: Any
) -> None:
    """Make each client's class an empty subclass of one class per service and process:
    botocore builds the methods and docstrings of every client anew (~125 KB for Config)."""
    key = (event_name, tuple(base_classes))
    with _CLASSES_LOCK:
        shared = _CLASSES.get(key)
        if shared is None:
            name = f"Shared{event_name.rsplit('.', 1)[-1].title().replace('-', '')}"
            shared = _CLASSES[key] = type(name, key[1], dict(class_attributes))
    class_attributes.clear()
    base_classes[:] = [shared]


# botocore's private method that makes each client's class, of which `share_made_classes`
# keeps one per (name, bases).
CLASS_MAKER = "_create_client_class"
_MADE: dict[tuple[str, tuple[type, ...]], type] = {}


def share_made_classes() -> None:
    """Have every client of a service be of one class: the empty subclass of its shared class
    (`_share_client_class`) that botocore makes for each client is ~2 KB. No public interface
    returns the class, so this wraps `ClientCreator._create_client_class`, once."""
    creator = botocore.client.ClientCreator
    original = getattr(creator, CLASS_MAKER)
    if getattr(original, "exporter_shared", False):
        return

    def make(self: Any, service_name: str, service_model: Any) -> type:
        made: type = original(self, service_name, service_model)
        if set(vars(made)) - {"__module__", "__doc__"}:
            return made  # not an empty subclass: a session that does not share classes
        with _CLASSES_LOCK:
            return _MADE.setdefault((made.__name__, made.__bases__), made)

    make.exporter_shared = True  # type: ignore[attr-defined]
    setattr(creator, CLASS_MAKER, make)


def share_client_classes(core: botocore.session.Session) -> None:
    """Have `core`'s clients share one class per service with every other session's, and
    one service model per model file (`share_service_models`)."""
    share_service_models()
    share_made_classes()
    core.get_component("event_emitter").register_last(
        "creating-client-class", _share_client_class, unique_id=_SHARE_ID
    )


# botocore's private method that builds each client's ServiceModel, and the attribute that
# holds the parsed model file.
MODEL_LOADER = "_load_service_model"
MODEL_DESCRIPTION = "_service_description"
_MODELS: dict[int, botocore.model.ServiceModel] = {}


def share_service_models() -> None:
    """Have every client share one ServiceModel per loaded model file, for the process.

    botocore builds a ServiceModel per client, and it fills its shape and operation caches as
    the client's calls need them: ~170 KB per account. Models are read-only once built; their
    caches are filled idempotently, so a race only builds a shape twice. No public interface
    makes the model, so this wraps `ClientCreator._load_service_model`, once.
    """
    creator = botocore.client.ClientCreator
    original = getattr(creator, MODEL_LOADER)
    if getattr(original, "exporter_shared", False):
        return

    def load(self: Any, service_name: str, api_version: str | None = None) -> Any:
        built = original(self, service_name, api_version)
        # The loader caches each file's parsed JSON: the same dict is the same model.
        description = getattr(built, MODEL_DESCRIPTION)
        with _CLASSES_LOCK:
            shared = _MODELS.get(id(description))
            if shared is None:  # it holds `description`, so that id is never reused
                shared = _MODELS[id(description)] = built
        return shared

    load.exporter_shared = True  # type: ignore[attr-defined]
    setattr(creator, MODEL_LOADER, load)


# The dict each botocore event emitter keeps of event name → handlers to call, which it
# replaces with a new `{}` whenever a handler is registered or unregistered.
LOOKUP_CACHE = "_lookup_cache"
# The trie of handlers each botocore event emitter searches and copies.
HANDLERS = "_handlers"
_HANDLER_TUPLES = "_exporter_handler_tuples"


class _HandlerTuples(dict[str, tuple[Any, ...]]):
    """An emitter's lookup cache that keeps each handler list as a tuple and each event name
    interned: most events have no handler, and botocore keeps a deque for each (~600 bytes)
    per event name and client."""

    def __init__(self, entries: Mapping[str, Iterable[Any]]) -> None:
        super().__init__()
        for event, handlers in entries.items():
            self[event] = handlers

    def __setitem__(self, event: str, handlers: Iterable[Any]) -> None:
        super().__setitem__(sys.intern(event), tuple(handlers))


class CompactEmitter(botocore.hooks.HierarchicalEmitter):
    """botocore's event emitter, whose lookup cache is `_HandlerTuples`: about 100 KB less
    per role account (each client copies its session's emitter, and caches every event its
    calls emit), and whose handlers are a `SharedTrie`, which copies share. Sessions take it
    through their public `event_hooks` argument; copies (one per client) keep the class."""

    def __init__(self) -> None:
        super().__init__()
        setattr(self, HANDLERS, SharedTrie())

    @property
    def _lookup_cache(self) -> _HandlerTuples:
        cache: _HandlerTuples = self.__dict__[_HANDLER_TUPLES]
        return cache

    @_lookup_cache.setter
    def _lookup_cache(self, entries: Mapping[str, Iterable[Any]]) -> None:
        self.__dict__[_HANDLER_TUPLES] = _HandlerTuples(entries)


# The private attributes through which every client of a service shares what botocore builds
# for each: the pagination settings a paginator is made with, the emitter's event aliases and
# the cache of aliased event names, and the endpoint ruleset its endpoint resolver evaluates.
PAGINATOR_CONFIG = "_pagination_cfg"
EVENT_ALIASES = "_event_aliases"
ALIAS_CACHE = "_alias_name_cache"
RULESET_RESOLVER = "_ruleset_resolver"
ENDPOINT_PROVIDER = "_provider"
PARAMETER_DEFINITIONS = "_param_definitions"
# Event name → aliased name, the same for every emitter with botocore's aliases.
_ALIASED_NAMES: dict[str, str] = {}
_PAGINATOR_CONFIGS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_PROVIDERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def new_paginator(client: Any, operation: str) -> botocore.paginate.Paginator[Any]:
    """`client.get_paginator(operation)` without the class and docstring botocore builds for
    each call (~2 KB): a plain Paginator made with the service's pagination settings."""
    model = client.meta.service_model
    with _CLASSES_LOCK:
        configs = _PAGINATOR_CONFIGS.setdefault(model, {})
        config = configs.get(operation)
    if config is None:
        config = getattr(client.get_paginator(operation), PAGINATOR_CONFIG)
        with _CLASSES_LOCK:
            configs.setdefault(operation, config)
    operation_model = model.operation_model(client.meta.method_to_api_mapping[operation])
    return botocore.paginate.Paginator(getattr(client, operation), config, operation_model)


def share_client_parts(client: Any) -> None:
    """Have `client` share, with every client of its service, what botocore builds for each
    and only reads: its emitter's event aliases and aliased names (~10 KB with the event name
    strings they hold), and the endpoint ruleset (~6 KB), whose resolutions are cached per
    provider and keyed by every parameter (region and endpoint URL included)."""
    events = client.meta.events
    if getattr(events, EVENT_ALIASES) == botocore.hooks.EVENT_ALIASES:
        setattr(events, EVENT_ALIASES, botocore.hooks.EVENT_ALIASES)
        setattr(events, ALIAS_CACHE, _ALIASED_NAMES)
    resolver = getattr(client, RULESET_RESOLVER)
    if resolver is None:
        return
    with _CLASSES_LOCK:
        provider = _PROVIDERS.setdefault(
            client.meta.service_model, getattr(resolver, ENDPOINT_PROVIDER)
        )
    setattr(resolver, ENDPOINT_PROVIDER, provider)
    setattr(resolver, PARAMETER_DEFINITIONS, provider.ruleset.parameters)
