"""exporter/status_page.py: the page's tables, their order, the empty state and escaping.

The page is read back with an HTML parser, as a browser would, so a value that breaks out of
its cell shows up as a wrong table, not as a string that happens to match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from exporter.status_page import Collection, Snapshot, UnsettledPack, render, render_links

HOSTILE = "<script>alert(1)</script> \"double\" 'single' &amp;"


@dataclass
class Page:
    """What a browser would make of the page: tags, link targets, tables and paragraphs."""

    tags: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # text → href
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # id → rows of cell text
    paragraphs: dict[str, str] = field(default_factory=dict)  # id → text
    row_classes: dict[str, list[str]] = field(default_factory=dict)  # table id → class per row


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._table: str | None = None
        self._paragraph: str | None = None
        self._href: str | None = None
        self._in_head = False
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.page.tags.append(tag)
        if tag == "thead":
            self._in_head = True
        elif tag == "table":
            self._table = attributes.get("id") or ""
            self.page.tables[self._table] = []
            self.page.row_classes[self._table] = []
        elif tag == "tr" and self._table is not None and not self._in_head:
            self.page.tables[self._table].append([])
            self.page.row_classes[self._table].append(attributes.get("class") or "")
        elif tag == "p" and attributes.get("id"):
            self._paragraph = attributes["id"]
        elif tag == "a":
            self._href = attributes.get("href") or ""
        self._text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag == "td" and self._table is not None:
            self.page.tables[self._table][-1].append(self._text)
        elif tag == "table":
            self._table = None
        elif tag == "p" and self._paragraph is not None:
            self.page.paragraphs[self._paragraph] = self._text
            self._paragraph = None
        elif tag == "a" and self._href is not None:
            self.page.links[self._text] = self._href
            self._href = None

    def handle_data(self, data: str) -> None:
        self._text += data


def parse_page(markup: str) -> Page:
    parser = _PageParser()
    parser.feed(markup)
    parser.close()
    return parser.page


def collection(
    collector: str = "status",
    *,
    success: bool = True,
    account_id: str = "111111111111",
    region: str = "eu-west-1",
    duration_seconds: float = 0.25,
    error_code: str | None = None,
    age_seconds: float | None = 2.0,
) -> Collection:
    if error_code is None:
        error_code = "" if success else "AccessDeniedException"
    return Collection(
        collector, account_id, region, success, duration_seconds, error_code, age_seconds
    )


def pack(name: str, state: str, reason: str = "", account: str = "111111111111") -> UnsettledPack:
    return UnsettledPack(account, "eu-west-1", name, state, reason)


def test_collections_are_listed_failures_first() -> None:
    snapshot = Snapshot(
        [
            collection("status", account_id="111111111111"),
            collection("compliance", success=False, age_seconds=None, duration_seconds=5.0),
            collection("status", account_id="222222222222", success=False, age_seconds=7200.0),
        ],
        [],
    )

    page = parse_page(render(snapshot, "/metrics").decode())

    assert page.tables["collections"] == [
        ["compliance", "111111111111", "eu-west-1", "failed", "5.00 s", "AccessDeniedException",
         "never read"],
        ["status", "222222222222", "eu-west-1", "failed", "0.25 s", "AccessDeniedException",
         "2.0 h"],
        ["status", "111111111111", "eu-west-1", "ok", "0.25 s", "", "2 s"],
    ]  # fmt: skip
    assert page.row_classes["collections"] == ["failed", "failed", ""]
    assert page.paragraphs["all-complete"].startswith("Every pack read is in a *_COMPLETE state")


def test_unsettled_packs_are_listed_failed_states_first() -> None:
    snapshot = Snapshot(
        [collection()],
        [
            pack("b", "CREATE_IN_PROGRESS", account="111111111111"),
            pack("a", "CREATE_IN_PROGRESS", account="222222222222"),
            pack("c", "DELETE_FAILED", "stack failed", account="222222222222"),
        ],
    )

    page = parse_page(render(snapshot, "/metrics").decode())

    assert page.tables["unsettled-packs"] == [
        ["222222222222", "eu-west-1", "c", "DELETE_FAILED", "stack failed"],
        ["111111111111", "eu-west-1", "b", "CREATE_IN_PROGRESS", ""],
        ["222222222222", "eu-west-1", "a", "CREATE_IN_PROGRESS", ""],
    ]
    assert page.row_classes["unsettled-packs"] == ["failed", "", ""]
    assert "all-complete" not in page.paragraphs


def test_no_scrape_yet_is_said_plainly() -> None:
    page = parse_page(render(Snapshot([], []), "/metrics").decode())

    assert page.tables == {}
    assert page.paragraphs["no-scrape"].startswith("No scrape yet")
    assert "all-complete" not in page.paragraphs  # nothing was read, so nothing is complete


def test_every_value_is_text_never_markup() -> None:
    snapshot = Snapshot(
        [
            collection(
                HOSTILE, success=False, account_id=HOSTILE, region=HOSTILE, error_code=HOSTILE
            )
        ],
        [UnsettledPack(HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE)],
    )
    path = '/metrics"><script>alert(2)</script>'

    markup = render(snapshot, path).decode()
    page = parse_page(markup)

    assert "script" not in page.tags
    assert "<script" not in markup
    assert page.links["Metrics"] == path
    [failed] = page.tables["collections"]
    assert failed[:3] == [HOSTILE] * 3
    assert failed[5] == HOSTILE
    assert page.tables["unsettled-packs"] == [[HOSTILE] * 5]


def test_links_are_kept() -> None:
    for markup in (render(Snapshot([], []), "/custom"), render_links("/custom")):
        page = parse_page(markup.decode())
        assert page.links == {"Metrics": "/custom", "Health": "/-/healthy", "Readiness": "/-/ready"}
        assert "/probe?account=ID&region=REGION" in markup.decode().replace("&amp;", "&")


def test_the_links_page_shows_no_status() -> None:
    page = parse_page(render_links("/metrics").decode())
    assert page.tables == {}
    assert page.paragraphs == {}


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.4, "0 s"), (59.4, "59 s"), (90.0, "1.5 min"), (5400.0, "1.5 h"), (172800.0, "2.0 d")],
)
def test_data_age_is_shown_in_a_readable_unit(seconds: float, shown: str) -> None:
    page = parse_page(render(Snapshot([collection(age_seconds=seconds)], []), "/").decode())
    assert page.tables["collections"][0][-1] == shown
