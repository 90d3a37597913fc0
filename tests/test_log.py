"""exporter/log.py: one parseable line per event in logfmt and JSON."""

from __future__ import annotations

import json
import logging

import pytest

from exporter.log import EveryInterval, JsonFormatter, LogfmtFormatter, configure_logging


def record(message: str, **extra: object) -> logging.LogRecord:
    log_record = logging.LogRecord(
        "exporter.test", logging.WARNING, __file__, 1, message, None, None
    )
    log_record.__dict__.update(extra)
    return log_record


def test_logfmt_quotes_values_that_need_it() -> None:
    line = LogfmtFormatter().format(record("collection failed", region="eu-west-1", note='a "b"'))

    assert " level=warn logger=exporter.test " in line
    assert 'msg="collection failed"' in line
    assert "region=eu-west-1" in line
    assert 'note="a \\"b\\""' in line
    assert "\n" not in line


def test_logfmt_keeps_newlines_on_one_line() -> None:
    line = LogfmtFormatter().format(record("x", reason="two\nlines"))
    assert 'reason="two\\nlines"' in line


def test_json_is_one_object_per_line() -> None:
    line = JsonFormatter().format(record("collection failed", region="eu-west-1", count=3))
    document = json.loads(line)
    assert document["msg"] == "collection failed"
    assert document["level"] == "warn"
    assert (document["region"], document["count"]) == ("eu-west-1", 3)
    assert document["ts"].endswith("+00:00")


KEY_ID = "AKIAIOSFODNN7EXAMPLE"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN"
SIGNED_URL = f"https://config.us-east-1.amazonaws.com/?x-amz-security-token={TOKEN}&a=b"


@pytest.mark.parametrize("formatter", [LogfmtFormatter(), JsonFormatter()], ids=["logfmt", "json"])
@pytest.mark.parametrize(
    "value",
    [
        ValueError(f"SignatureDoesNotMatch: Credential={KEY_ID}/20240101/us-east-1/config"),
        {"url": SIGNED_URL, "retries": 2},
        {"X-Amz-Security-Token": TOKEN},
        [KEY_ID, 1],
        SIGNED_URL.encode(),
    ],
    ids=["exception", "dict", "header-dict", "list", "bytes"],
)
def test_credentials_in_any_extra_are_redacted(formatter: logging.Formatter, value: object) -> None:
    """An exception, a dict or bytes given as context can quote a signed request."""
    line = formatter.format(record("call failed", detail=value, attempts=3, tls=True))

    assert KEY_ID not in line
    assert TOKEN not in line
    assert "REDACTED" in line
    if isinstance(formatter, JsonFormatter):
        document = json.loads(line)
        assert "REDACTED" in document["detail"]
        assert (document["attempts"], document["tls"]) == (3, True)


@pytest.mark.parametrize("level", ["debug", "info"])
def test_aws_libraries_never_log_below_warning(level: str) -> None:
    """botocore's debug output contains signed headers and session tokens."""
    configure_logging(level, "logfmt")
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger().level == logging.getLevelName(level.upper())


def test_every_interval_lets_one_line_through_and_counts_the_others() -> None:
    now = [100.0]
    limit = EveryInterval(60, clock=lambda: now[0])

    first = [limit.allow() for _ in range(4)]
    now[0] += 59.9
    still_held = limit.allow()
    now[0] += 0.1
    next_line = limit.allow()

    assert first == [0, None, None, None]
    assert still_held is None
    assert next_line == 4, "the three repeats and the one a moment before"
