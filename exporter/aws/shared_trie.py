"""botocore's trie of event handlers, whose copies share their nodes until they change them.

Every client copies its session's event emitter, and botocore's emitter copies its whole trie
of handlers (~15 KB a client), though a client adds or removes only a few handlers. This trie
copies a node only when a change passes through it. The trie class and its root are private
to botocore: tests/aws/test_client_classes.py fails when a release changes them.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.hooks

# botocore's private trie class, and the attribute (`_root`) its methods read the root node from.
PREFIX_TRIE = "_PrefixTrie"
TRIE_ROOT = "_root"

_Node = dict[str, Any]
_BaseTrie: type = getattr(botocore.hooks, PREFIX_TRIE)
# Guards every change and copy: a node is changed in place only by the one trie that owns it,
# and a copy takes ownership of every node away from the trie copied.
_LOCK = threading.Lock()


class SharedTrie(_BaseTrie):  # type: ignore[misc]
    """botocore's `_PrefixTrie`, searched and changed by botocore's own code, once the nodes on
    the path of a change are this trie's own; searches take no lock, as in botocore."""

    _root: _Node

    def __init__(self, root: _Node | None = None) -> None:
        super().__init__()
        if root is not None:
            self._root = root
        # id → node of the nodes no other trie holds; the node is kept so its id is not reused.
        self._owned: dict[int, _Node] = {} if root is not None else {id(self._root): self._root}

    def _own(self, node: _Node) -> _Node:
        """`node`, or a copy of it this trie owns (its handler lists and children copied)."""
        if self._owned.get(id(node)) is node:
            return node
        values = node["values"]
        mine: _Node = {
            "chunk": node["chunk"],
            "values": None if values is None else values.__copy__(),
            "children": dict(node["children"]),
        }
        self._owned[id(mine)] = mine
        return mine

    def _own_path(self, key: str, create: bool) -> None:
        """Own every node on `key`'s path, creating the missing ones with `create`."""
        node = self._root = self._own(self._root)
        for part in key.split("."):
            children = node["children"]
            child = children.get(part)
            if child is None:
                if not create:
                    return
                child = {"chunk": part, "values": None, "children": {}}
                self._owned[id(child)] = child
            node = children[part] = self._own(child)

    def append_item(self, key: str, value: Any, **section: int) -> None:
        with _LOCK:
            self._own_path(key, create=True)
            super().append_item(key, value, **section)

    def remove_item(self, key: str, value: Any) -> None:
        """botocore's, without copying the path of a handler that is not there."""
        node = self._root
        for part in key.split("."):
            node = node["children"].get(part)
            if node is None:
                raise ValueError(f"key is not in trie: {key}")
        if node["values"] is None or not any(value in handlers for handlers in node["values"]):
            return
        with _LOCK:
            self._own_path(key, create=False)
            super().remove_item(key, value)

    def __copy__(self) -> SharedTrie:
        with _LOCK:
            self._owned = {}
            return SharedTrie(self._root)
