"""NextTokens and pages: tokens are bound to one query and one simulator, so a foreign, altered
or reused token fails with InvalidNextTokenException the way AWS's opaque tokens do."""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import TypeVar

from exporter.simulator.errors import client_error

T = TypeVar("T")


class PageTokens:
    """Issues and checks NextTokens; each holds the position the next page starts after."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self, query: str, position: str) -> str:
        """A token for the page after `position` of `query`."""
        payload = json.dumps([query, position]).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac + payload).decode()

    def read(self, token: object, query: str) -> str | None:
        """The position in `token`, if it was issued here for `query`; None for no token."""
        if not token:
            return None
        invalid = client_error(
            "InvalidNextTokenException",
            "The specified next token is invalid. Specify the nextToken string that was"
            " returned in the previous response to get the next page of results.",
        )
        try:
            raw = base64.urlsafe_b64decode(str(token).encode())
        except ValueError:
            raise invalid from None
        mac, payload = raw[:16], raw[16:]
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            raise invalid
        token_query, position = json.loads(payload)
        if token_query != query:
            raise invalid
        return str(position)


def query_key(*parts: object) -> str:
    """One string naming a query, so a token cannot be replayed against another."""
    return json.dumps(parts, sort_keys=True)


def after(keys: Sequence[str], position: str | None) -> int:
    """Where a page starts in sorted `keys` when the previous one ended at `position`."""
    return 0 if position is None else bisect.bisect_right(keys, position)


def take(items: Iterable[T], limit: int) -> tuple[list[T], bool]:
    """Up to `limit` items, and whether any remain after them."""
    page = list(islice(iter(items), limit + 1))
    return page[:limit], len(page) > limit
