"""When assumed-role credentials renew, and what botocore logs when a renewal fails: windows
fitted to the session's length, set where botocore keeps them, and its warning quieted."""

from __future__ import annotations

import logging

import botocore.credentials

# botocore refreshes credentials in their last 15 minutes (advisory: one thread tries, the
# others go on with the old ones) and 10 minutes (mandatory: every caller waits for it).
BOTOCORE_REFRESH_WINDOWS = (15 * 60, 10 * 60)


def refresh_windows(duration_seconds: int) -> tuple[float, float]:
    """(advisory, mandatory) refresh windows in seconds for sessions of `duration_seconds`:
    the last third and sixth of the session, at most botocore's 15 and 10 minutes. botocore's
    own would cover all of a 15-minute session, and assume the role again on every call."""
    advisory, mandatory = BOTOCORE_REFRESH_WINDOWS
    return min(advisory, duration_seconds / 3), min(mandatory, duration_seconds / 6)


def fit_refresh_windows(
    credentials: botocore.credentials.RefreshableCredentials, duration_seconds: int
) -> None:
    """Set `credentials`' refresh windows: botocore takes them only as private attributes
    (DeferredRefreshableCredentials has no argument for them); the one place that does."""
    for attribute in ("_advisory_refresh_timeout", "_mandatory_refresh_timeout"):
        if not hasattr(credentials, attribute):
            raise AttributeError(f"botocore's RefreshableCredentials has no {attribute}")
    advisory, mandatory = refresh_windows(duration_seconds)
    credentials._advisory_refresh_timeout = advisory  # type: ignore[attr-defined]
    credentials._mandatory_refresh_timeout = mandatory  # type: ignore[attr-defined]


class _QuietRefreshWarning(logging.Filter):
    """Drops botocore's "Refreshing temporary credentials failed" warning, which carries the
    whole traceback on every failed refresh: the refresh logs its own line, rate-limited."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Refreshing temporary credentials failed")


def quiet_botocore_refresh_warning() -> None:
    """Once per process, however many `Sessions`."""
    botocore_log = logging.getLogger("botocore.credentials")
    if not any(isinstance(f, _QuietRefreshWarning) for f in botocore_log.filters):
        botocore_log.addFilter(_QuietRefreshWarning())
