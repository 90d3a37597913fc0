"""Basic authentication against bcrypt hashes, as exporter-toolkit's `basic_auth_users` asks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping

import bcrypt

VERIFIED_CACHE_SIZE = 64


def _basic_credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """(username, password) from an `Authorization: Basic ...` header, None if there is none."""
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip().encode("latin-1"), validate=True)
    except ValueError:
        return None
    username, colon, password = decoded.partition(b":")
    return (username, password) if colon else None


class BasicAuth:
    """Checks Basic credentials against bcrypt hashes without leaking which usernames exist.

    An unknown username is checked against a decoy hash of the same cost, so it takes as long
    as a wrong password. Verified credentials are remembered (as keyed digests, never in
    clear) so bcrypt, slow on purpose, does not run on every scrape.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        # One bcrypt at a time, as in exporter-toolkit: a flood of wrong passwords then costs
        # one core, and cached credentials skip the queue.
        self._bcrypt_lock = threading.Lock()
        self._decoys: dict[int, bytes] = {}

    def allows(self, users: Mapping[bytes, bytes], authorization: str | None) -> bool:
        """Whether the header carries a configured username with its password."""
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        username, password = credentials
        hashed = users.get(username)
        known = hashed is not None
        if hashed is None:
            hashed = self._decoy(users)
        digest = hmac.new(self._key, username, hashlib.sha256)
        for part in (hashed, password):
            digest.update(len(part).to_bytes(8, "big") + part)
        cache_key = digest.digest()
        with self._lock:
            if cache_key in self._verified:
                self._verified.move_to_end(cache_key)
                return True
        with self._bcrypt_lock:
            try:
                matches = bcrypt.checkpw(password, hashed)
            except ValueError:  # longer than bcrypt's 72 bytes
                matches = False
        if not (known and matches):
            return False
        with self._lock:
            self._verified[cache_key] = None
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return True

    def _decoy(self, users: Mapping[bytes, bytes]) -> bytes:
        """A hash of a random password at the cost most configured users have."""
        cost = Counter(int(hashed[4:6]) for hashed in users.values()).most_common(1)[0][0]
        with self._lock:
            decoy = self._decoys.get(cost)
        if decoy is None:
            decoy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))
            with self._lock:
                self._decoys[cost] = decoy
        return decoy
