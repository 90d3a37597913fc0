"""Logging in the two formats Prometheus exporters use: logfmt and JSON, one line per event.

Context travels as `extra={...}` fields; no code path passes credentials to a log call.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


# AWS error messages can quote the signed request back (SignatureDoesNotMatch does), and
# tracebacks carry those messages: credentials are cut out of every line written.
_SECRETS = re.compile(
    r"(?i)(x-amz-security-token[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]+"
    r"|(Credential=)[^/\s,]+"
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b"
)


def _redact(text: str) -> str:
    return _SECRETS.sub(lambda m: f"{m.group(1) or m.group(2) or ''}REDACTED", text)


def _redact_field(value: Any) -> Any:
    """Numbers, booleans and None as they are; anything else (an exception, a dict, bytes) as
    its redacted str(), since a credential can sit anywhere inside it."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _redact(str(value))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    level = {"WARNING": "warn", "CRITICAL": "error"}.get(record.levelname, record.levelname.lower())
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
            timespec="milliseconds"
        ),
        "level": level,
        "logger": record.name,
        "msg": _redact(record.getMessage()),
    }
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
            fields[key] = _redact_field(value)
    if record.exc_info:
        fields["exception"] = _redact(logging.Formatter().formatException(record.exc_info))
    return fields


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n\t') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


class LogfmtFormatter(logging.Formatter):
    """`key=value` pairs, values quoted when they need it."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


class EveryInterval:
    """Lets a line that repeats (a failure on every scrape) through once per interval.

    `allow` says whether to log now and how many repeats were held back since the last line,
    so a flood becomes one line a minute that still tells how often it happened.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last = -math.inf
        self._held_back = 0

    def allow(self) -> int | None:
        """The number of repeats held back since the last line if one may be logged now,
        else None (and this one is counted as held back)."""
        with self._lock:
            now = self._clock()
            if now - self._last < self._seconds:
                self._held_back += 1
                return None
            held_back, self._last, self._held_back = self._held_back, now, 0
            return held_back


def configure_logging(level: str, log_format: str) -> None:
    """Send the root logger to stderr.

    botocore's debug output contains signed headers and session tokens, so the AWS libraries
    stay at warnings even with `--log.level=debug`.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    for library in ("botocore", "boto3", "urllib3"):
        logging.getLogger(library).setLevel(logging.WARNING)
