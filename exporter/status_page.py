"""The landing page at `/`: links, and what the last scrape saw, for a human in a browser.

The page reads only what scrapes already collected (no AWS call of its own), so opening it
costs nothing and shows what Prometheus was given. It is plain HTML without JavaScript, and
every value is escaped: pack status reasons come from AWS and may hold any text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from exporter import __version__
from exporter.collection import Reading
from exporter.metrics import STATE, STATUS_REASON


@dataclass(frozen=True)
class Collection:
    """The last read of one target by one collector."""

    collector: str
    account_id: str
    region: str
    success: bool
    duration_seconds: float
    error_code: str  # "" on success
    age_seconds: float | None  # since the data served was read; None: never read successfully


@dataclass(frozen=True)
class UnsettledPack:
    """A pack not in a *_COMPLETE state."""

    account_id: str
    region: str
    conformance_pack: str
    state: str
    reason: str


@dataclass(frozen=True)
class Snapshot:
    """What the last scrape saw: every collection and the packs that need a look."""

    collections: Sequence[Collection]
    unsettled_packs: Sequence[UnsettledPack]


def snapshot_of(seen: Iterable[tuple[str, Reading | None, float | None]], now: float) -> Snapshot:
    """The snapshot of the readings last served, each (collector, reading, Unix time of its
    collector's last success on that target), at Unix time `now`."""
    collections, unsettled = [], []
    for name, reading, success_at in seen:
        if reading is None:
            continue
        age = None if success_at is None else now - success_at
        collections.append(
            Collection(
                name,
                reading.account_id,
                reading.region,
                reading.success,
                reading.duration_seconds,
                reading.error_code,
                age,
            )
        )
        reasons = {
            sample.labels["conformance_pack"]: sample.labels["reason"]
            for sample in reading.samples.get(STATUS_REASON, ())
        }
        unsettled += [
            UnsettledPack(
                reading.account_id,
                reading.region,
                sample.labels["conformance_pack"],
                sample.labels["state"],
                reasons.get(sample.labels["conformance_pack"], ""),
            )
            for sample in reading.samples.get(STATE, ())
            if sample.value == 1 and not sample.labels["state"].endswith("_COMPLETE")
        ]
    return Snapshot(collections, unsettled)


TITLE = "AWS Config conformance pack exporter"
# The page has no script; the policy makes sure an escaping mistake could not run one.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
_STYLE = (
    "body{font-family:sans-serif;margin:1em 2em}table{border-collapse:collapse}"
    "th,td{border:1px solid #bbb;padding:.2em .6em;text-align:left;vertical-align:top}"
    "th{background:#eee}tr.failed{background:#fdd}td.number{text-align:right}"
)


def render(snapshot: Snapshot, telemetry_path: str) -> bytes:
    """The whole page with the last scrape's collections and unsettled packs, as UTF-8."""
    return _page(telemetry_path, _collections(snapshot) + _unsettled_packs(snapshot))


def render_links(telemetry_path: str) -> bytes:
    """The page without scrape status, for an app that was given none to show."""
    return _page(telemetry_path, "")


def _page(telemetry_path: str, sections: str) -> bytes:
    path = _text(telemetry_path)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{TITLE}</title><style>{_STYLE}</style></head>
<body>
<h1>{TITLE}</h1>
<p>Version {_text(__version__)}. Exposes the deployment status of AWS Config
conformance packs for Prometheus.</p>
<ul>
<li><a href="{path}">Metrics</a></li>
<li>One account: <code>/probe?account=ID&amp;region=REGION</code> (region optional)</li>
<li><a href="/-/healthy">Health</a></li>
<li><a href="/-/ready">Readiness</a></li>
</ul>
{sections}</body>
</html>
""".encode()


def _collections(snapshot: Snapshot) -> str:
    heading = (
        "<h2>Last collections</h2>\n<p>What the last scrape read; this page asks AWS nothing.</p>\n"
    )
    if not snapshot.collections:
        return heading + '<p id="no-scrape">No scrape yet: nothing has been collected.</p>\n'
    rows = sorted(
        snapshot.collections,
        key=lambda row: (row.success, row.collector, row.account_id, row.region),
    )
    return heading + _table(
        "collections",
        ["Collector", "Account", "Region", "Result", "Duration", "Error", "Data age"],
        (
            (
                not row.success,
                [
                    _cell(row.collector),
                    _cell(row.account_id),
                    _cell(row.region),
                    _cell("ok" if row.success else "failed"),
                    _cell(f"{row.duration_seconds:.2f} s", number=True),
                    _cell(row.error_code),
                    _cell("never read" if row.age_seconds is None else _age(row.age_seconds)),
                ],
            )
            for row in rows
        ),
    )


def _unsettled_packs(snapshot: Snapshot) -> str:
    if not snapshot.collections:
        return ""  # the empty state above says it all
    heading = "<h2>Packs not complete</h2>\n"
    if not snapshot.unsettled_packs:
        return heading + '<p id="all-complete">Every pack read is in a *_COMPLETE state.</p>\n'
    rows = sorted(
        snapshot.unsettled_packs,
        key=lambda row: (
            "FAILED" not in row.state,
            row.account_id,
            row.region,
            row.conformance_pack,
        ),
    )
    return heading + _table(
        "unsettled-packs",
        ["Account", "Region", "Pack", "State", "Status reason"],
        (
            (
                "FAILED" in row.state,
                [
                    _cell(row.account_id),
                    _cell(row.region),
                    _cell(row.conformance_pack),
                    _cell(row.state),
                    _cell(row.reason),
                ],
            )
            for row in rows
        ),
    )


def _table(table_id: str, columns: list[str], rows: Iterable[tuple[bool, list[str]]]) -> str:
    """A table whose failed rows stand out."""
    header = "".join(f"<th>{_text(column)}</th>" for column in columns)
    body = "".join(
        ('<tr class="failed">' if failed else "<tr>") + "".join(cells) + "</tr>\n"
        for failed, cells in rows
    )
    return (
        f'<table id="{table_id}">\n<thead><tr>{header}</tr></thead>\n'
        f"<tbody>\n{body}</tbody>\n</table>\n"
    )


def _cell(value: str, *, number: bool = False) -> str:
    return f'<td class="number">{_text(value)}</td>' if number else f"<td>{_text(value)}</td>"


def _age(seconds: float) -> str:
    """Seconds, minutes, hours or days: a reader wants the order of magnitude."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def _text(value: str) -> str:
    """Any value, as text in an element or an attribute: nothing in it can become markup."""
    return html.escape(value, quote=True)
