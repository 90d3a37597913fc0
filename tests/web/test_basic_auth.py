"""exporter/web/basic_auth.py: Basic credentials against bcrypt hashes, the verified cache and
the decoy hash that hides which usernames exist."""

from __future__ import annotations

import base64

import bcrypt
import pytest

from exporter.web import BasicAuth
from exporter.web.basic_auth import VERIFIED_CACHE_SIZE
from tests.certs import bcrypt_hash
from tests.web.conftest import PASSWORD, basic_header

# Basic auth


class BcryptSpy:
    """Counts bcrypt checks and remembers the hashes they used."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashes: list[bytes] = []
        real = bcrypt.checkpw

        def checkpw(password: bytes, hashed: bytes) -> bool:
            self.hashes.append(hashed)
            return real(password, hashed)

        monkeypatch.setattr(bcrypt, "checkpw", checkpw)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> BcryptSpy:
    return BcryptSpy(monkeypatch)


USERS = {b"alice": bcrypt_hash(PASSWORD).encode()}


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (basic_header("alice", PASSWORD), True),
        (basic_header("alice", PASSWORD).replace("Basic", "basic"), True),
        (basic_header("alice", "wrong"), False),
        (basic_header("alice", ""), False),
        (basic_header("mallory", PASSWORD), False),
        (basic_header("alice", "x" * 100), False),
        (None, False),
        ("", False),
        ("Bearer abc", False),
        ("Basic !!!not-base64!!!", False),
        ("Basic " + base64.b64encode(b"alice").decode(), False),
        ("Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(), False),
    ],
)
def test_basic_auth_decisions(header: str | None, allowed: bool) -> None:
    assert BasicAuth().allows(USERS, header) is allowed


def test_an_unknown_user_costs_a_bcrypt_check_of_the_same_cost(spy: BcryptSpy) -> None:
    users = {b"alice": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5))}

    assert not BasicAuth().allows(users, basic_header("mallory", PASSWORD))

    [decoy] = spy.hashes
    assert decoy != users[b"alice"]
    assert decoy.startswith(b"$2b$05$")


def test_verified_credentials_are_cached_but_failures_are_not(spy: BcryptSpy) -> None:
    auth = BasicAuth()
    right, wrong = basic_header("alice", PASSWORD), basic_header("alice", "wrong")

    assert all(auth.allows(USERS, right) for _ in range(5))
    assert not any(auth.allows(USERS, wrong) for _ in range(3))

    assert len(spy.hashes) == 1 + 3


def test_a_changed_hash_is_checked_again(spy: BcryptSpy) -> None:
    auth = BasicAuth()
    right = basic_header("alice", PASSWORD)
    assert auth.allows(USERS, right)

    new_users = {b"alice": bcrypt_hash("new password").encode()}

    assert not auth.allows(new_users, right)
    assert auth.allows(new_users, basic_header("alice", "new password"))
    assert len(spy.hashes) == 3


def test_the_cache_is_bounded(spy: BcryptSpy) -> None:
    count = VERIFIED_CACHE_SIZE + 1
    users = {f"user{i}".encode(): bcrypt_hash(f"pw{i}").encode() for i in range(count)}
    auth = BasicAuth()
    for i in range(count):
        assert auth.allows(users, basic_header(f"user{i}", f"pw{i}"))

    assert auth.allows(users, basic_header(f"user{count - 1}", f"pw{count - 1}"))
    assert len(spy.hashes) == count
    assert auth.allows(users, basic_header("user0", "pw0"))
    assert len(spy.hashes) == count + 1
