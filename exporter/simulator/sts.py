"""STS as the simulator plays it: which account an access key belongs to, AssumeRole sessions
with their tokens and expiry, and GetCallerIdentity, so cross-account reads work end to end."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from exporter.simulator.errors import ApiError
from exporter.simulator.wire import Request, iso8601

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")


@dataclass(frozen=True)
class AssumeRoleCall:
    """One AssumeRole request as received, so tests can check what the exporter asked for."""

    role_arn: str
    session_name: str
    external_id: str | None
    duration_seconds: int
    caller_access_key: str
    region: str
    granted: bool


@dataclass(frozen=True)
class _Session:
    """Temporary credentials this simulator issued through AssumeRole."""

    account: str
    arn: str
    user_id: str
    session_token: str
    expires_at: float


class Identities:
    """Who is calling: long-term keys map to accounts, AssumeRole issues sessions that expire."""

    def __init__(
        self,
        default_account: str,
        access_key_accounts: Mapping[str, str],
        denied_roles: frozenset[str],
        role_external_ids: Mapping[str, str],
        clock: Callable[[], float],
    ) -> None:
        self._default_account = default_account
        self._access_key_accounts = dict(access_key_accounts)
        self._denied_roles = frozenset(denied_roles)
        self._role_external_ids = dict(role_external_ids)
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._assume_role_calls: list[AssumeRoleCall] = []

    @property
    def assume_role_calls(self) -> tuple[AssumeRoleCall, ...]:
        """Every AssumeRole request that reached the operation, granted or not."""
        with self._lock:
            return tuple(self._assume_role_calls)

    def forget_calls(self) -> None:
        """Start recording AssumeRole calls afresh; issued sessions stay valid."""
        with self._lock:
            self._assume_role_calls.clear()

    def account_for(self, access_key: str) -> str:
        """The account `access_key` acts in: its session's, its mapped one, or the default."""
        with self._lock:
            session = self._sessions.get(access_key)
            if session is not None:
                return session.account
            return self._access_key_accounts.get(access_key, self._default_account)

    def caller_arn(self, access_key: str) -> str:
        """The principal AWS names in access-denied messages."""
        with self._lock:
            session = self._sessions.get(access_key)
        if session is not None:
            return session.arn
        return f"arn:aws:iam::{self.account_for(access_key)}:user/simulator"

    def check_credentials(self, request: Request) -> None:
        """Hold issued temporary credentials to their session token and expiry, as AWS does."""
        with self._lock:
            session = self._sessions.get(request.access_key)
        if session is None:
            return
        if request.session_token != session.session_token:
            raise ApiError.of("unrecognized_client", request.service)
        if self._clock() >= session.expires_at:
            raise ApiError.of("expired_token", request.service)

    def caller_identity(self, request: Request) -> dict[str, str]:
        """GetCallerIdentity."""
        with self._lock:
            session = self._sessions.get(request.access_key)
        if session is not None:
            return {"Arn": session.arn, "UserId": session.user_id, "Account": session.account}
        return {
            "Arn": self.caller_arn(request.access_key),
            "UserId": _stable_id("AIDA", request.access_key, 17),
            "Account": request.account,
        }

    def assume_role(self, request: Request, params: Mapping[str, str]) -> dict[str, object]:
        """AssumeRole, granted unless the role is denied or wants another external id."""
        role_arn = params.get("RoleArn", "")
        session_name = params.get("RoleSessionName", "")
        external_id = params.get("ExternalId")
        role = _ROLE_ARN.fullmatch(role_arn)
        if role is None:
            raise ApiError(400, "ValidationError", f"{role_arn!r} is not a valid IAM role ARN")
        if not _SESSION_NAME.fullmatch(session_name):
            raise ApiError(
                400,
                "ValidationError",
                f"RoleSessionName {session_name!r} must match [\\w+=,.@-]{{2,64}}",
            )
        duration_text = params.get("DurationSeconds", "3600")
        if not duration_text.isdigit() or not 900 <= int(duration_text) <= 43200:
            raise ApiError(
                400, "ValidationError", f"DurationSeconds {duration_text!r} must be in 900..43200"
            )
        duration = int(duration_text)
        required_external_id = self._role_external_ids.get(role_arn)
        granted = role_arn not in self._denied_roles and required_external_id in (None, external_id)
        with self._lock:
            self._assume_role_calls.append(
                AssumeRoleCall(
                    role_arn=role_arn,
                    session_name=session_name,
                    external_id=external_id,
                    duration_seconds=duration,
                    caller_access_key=request.access_key,
                    region=request.region,
                    granted=granted,
                )
            )
        if not granted:
            raise ApiError(
                403,
                "AccessDenied",
                f"User: {self.caller_arn(request.access_key)} is not authorized to perform:"
                f" sts:AssumeRole on resource: {role_arn}",
            )
        account, role_name = role.group(1), role.group(2)
        access_key = "ASIA" + base64.b32encode(secrets.token_bytes(10)).decode()
        role_id = _stable_id("AROA", role_arn, 17)
        session = _Session(
            account=account,
            arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
            user_id=f"{role_id}:{session_name}",
            session_token=base64.b64encode(secrets.token_bytes(96)).decode(),
            expires_at=self._clock() + duration,
        )
        with self._lock:
            self._sessions[access_key] = session
        return {
            "Credentials": {
                "AccessKeyId": access_key,
                "SecretAccessKey": base64.b64encode(secrets.token_bytes(30)).decode(),
                "SessionToken": session.session_token,
                "Expiration": iso8601(session.expires_at),
            },
            "AssumedRoleUser": {"AssumedRoleId": session.user_id, "Arn": session.arn},
        }


def _stable_id(prefix: str, seed: str, length: int) -> str:
    """An AWS-looking identifier that stays the same for the same seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:length]
