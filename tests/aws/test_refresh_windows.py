"""exporter/aws/refresh_windows.py: refresh windows fitted to the session, where botocore
reads them."""

from __future__ import annotations

import pytest
from botocore.credentials import DeferredRefreshableCredentials, RefreshableCredentials

from exporter.aws.refresh_windows import fit_refresh_windows, refresh_windows


@pytest.mark.parametrize(
    ("duration", "windows"), [(900, (300, 150)), (1800, (600, 300)), (3600, (900, 600))]
)
def test_refresh_windows_fit_the_session(duration: int, windows: tuple[float, float]) -> None:
    assert refresh_windows(duration) == windows


def test_long_sessions_keep_botocore_s_own_windows() -> None:
    """Also fails loudly if botocore renames the attributes fit_refresh_windows sets."""
    botocore_windows = (
        RefreshableCredentials._advisory_refresh_timeout,  # type: ignore[attr-defined]
        RefreshableCredentials._mandatory_refresh_timeout,  # type: ignore[attr-defined]
    )
    credentials = DeferredRefreshableCredentials(refresh_using=dict, method="assume-role")
    fit_refresh_windows(credentials, 43200)

    assert refresh_windows(43200) == botocore_windows
    assert (
        credentials._advisory_refresh_timeout,  # type: ignore[attr-defined]
        credentials._mandatory_refresh_timeout,  # type: ignore[attr-defined]
    ) == botocore_windows
