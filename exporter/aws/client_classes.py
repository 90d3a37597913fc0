"""What the clients of many accounts share: one class per service for the whole process, and
only the built-in botocore handlers the exporter's operations use. botocore builds both anew for
every session and client (about 0.6 MB per role account), through public interfaces: the
`creating-client-class` event, `include_builtin_handlers` and `BUILTIN_HANDLERS`. The few
private ones (each client's service model, its event emitter's lookup cache) are named here,
and tests/aws/test_client_classes.py fails when a botocore release changes them.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import botocore.client
import botocore.handlers
import botocore.hooks
import botocore.model
import botocore.session

# The services the exporter makes clients of, by botocore service id.
SERVICE_IDS = frozenset({"config-service", "sts", "organizations"})


def needed_handlers() -> list[tuple[str, Callable[..., Any], object]]:
    """(event, handler, position) of botocore's built-in handlers the exporter's clients use:
    those of every service or of `SERVICE_IDS`, less the ones that only write documentation
    (`fit_client` takes `UNNEEDED_HANDLERS` off each client, whatever its session). Each
    client copies its session's handlers: with all 127 of them, 86 KB; with these, a few."""
    needed = []
    for event, handler, *position in botocore.handlers.BUILTIN_HANDLERS:
        parts = str(event).split(".")
        if parts[0] != "docs" and (len(parts) == 1 or parts[1] == "*" or parts[1] in SERVICE_IDS):
            needed.append((str(event), handler, position[0] if position else None))
    return needed


_NEEDED = needed_handlers()


def register_needed_handlers(core: botocore.session.Session) -> None:
    """Register `needed_handlers` on a session made with `include_builtin_handlers=False`,
    each first, last or in between, as botocore registers its own."""
    events = core.get_component("event_emitter")
    for event, handler, position in _NEEDED:
        if position is botocore.handlers.REGISTER_FIRST:
            events.register_first(event, handler)
        elif position is botocore.handlers.REGISTER_LAST:
            events.register_last(event, handler)
        else:
            events.register(event, handler)


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


def share_client_classes(core: botocore.session.Session) -> None:
    """Have `core`'s clients share one class per service with every other session's, and
    one service model per model file (`share_service_models`)."""
    share_service_models()
    core.get_component("event_emitter").register_last(
        "creating-client-class", _share_client_class, unique_id="exporter-share-client-class"
    )


# botocore's private method that builds each client's ServiceModel, the one private interface
# used here; tests/aws/test_client_classes.py fails if a botocore release changes it.
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
    calls emit). Sessions take it through their public `event_hooks` argument; copies
    (one per client) keep the class."""

    @property
    def _lookup_cache(self) -> _HandlerTuples:
        cache: _HandlerTuples = self.__dict__[_HANDLER_TUPLES]
        return cache

    @_lookup_cache.setter
    def _lookup_cache(self, entries: Mapping[str, Iterable[Any]]) -> None:
        self.__dict__[_HANDLER_TUPLES] = _HandlerTuples(entries)
