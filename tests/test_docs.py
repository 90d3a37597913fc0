"""README.md and docs/*.md: every relative link resolves and every PromQL example parses.

PromQL is checked by promtool (Debian package `prometheus`, or the binary named by $PROMTOOL):
each expression of every ```promql block becomes a recording rule in one temporary rule file,
and one `promtool check rules` run reports every expression that does not parse, by file and
line. A missing promtool fails the test, as in tests/test_alerts.py.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from tests.conftest import REPO
from tests.test_alerts import github_anchors, promtool

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DOCUMENT_IDS = [path.relative_to(REPO).as_posix() for path in DOCUMENTS]

FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
CODE_SPAN = re.compile(r"(`+).*?\1")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
RECORD_PREFIX = "docs_expression_"


@dataclass(frozen=True)
class Expression:
    """One PromQL expression of a document and where it starts."""

    source: str  # "docs/metrics.md:123"
    text: str


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string's first word, first content line and lines."""

    language: str
    first_line: int
    lines: list[str]


def blocks(markdown: str) -> Iterator[Block]:
    """The fenced code blocks of a Markdown document."""
    opening: tuple[str, str, int] | None = None
    lines: list[str] = []
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = FENCE.match(line)
        if opening is None:
            if fence:
                opening, lines = (fence.group(1), fence.group(2), number + 1), []
        elif fence and fence.group(1).startswith(opening[0]) and not fence.group(2):
            yield Block(opening[1], opening[2], lines)
            opening = None
        else:
            lines.append(line)


def prose_lines(markdown: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    in_block = {
        block.first_line + offset
        for block in blocks(markdown)
        for offset in range(len(block.lines))
    }
    fence_lines = {
        number for number, line in enumerate(markdown.splitlines(), 1) if FENCE.match(line)
    }
    for number, line in enumerate(markdown.splitlines(), start=1):
        if number not in in_block and number not in fence_lines:
            yield number, CODE_SPAN.sub("code", line)


def split_expressions(block: Block, document: str) -> list[Expression]:
    """A promql block's expressions: one starts at column 0, indented lines continue it."""
    expressions: list[Expression] = []
    start, text = 0, ""
    for offset, line in enumerate(block.lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if text and line[0].isspace():
            text += "\n" + line
            continue
        if text:
            expressions.append(Expression(f"{document}:{start}", text))
        start, text = block.first_line + offset, line
    if text:
        expressions.append(Expression(f"{document}:{start}", text))
    return expressions


def promql_expressions(path: Path) -> list[Expression]:
    """Every expression in the document's ```promql blocks."""
    document = path.relative_to(REPO).as_posix()
    return [
        expression
        for block in blocks(path.read_text(encoding="utf-8"))
        if block.language == "promql"
        for expression in split_expressions(block, document)
    ]


def promtool_errors(expressions: Sequence[Expression], directory: Path) -> dict[Expression, str]:
    """promtool's complaint about each expression that does not parse, in one promtool run."""
    rule_file = directory / "docs-promql.rules.yml"
    rules = [
        {"record": f"{RECORD_PREFIX}{index}", "expr": expression.text}
        for index, expression in enumerate(expressions)
    ]
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "docs", "rules": rules}]}))
    command = [promtool(), "check", "rules", str(rule_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    errors = {
        expressions[int(match[1])]: match[2]
        for match in re.finditer(rf'"{RECORD_PREFIX}(\d+)": (.*)', output)
    }
    if result.returncode != 0 and not errors:
        pytest.fail(f"{' '.join(command)} failed without naming an expression:\n{output}")
    if result.returncode == 0 and errors:
        pytest.fail(f"{' '.join(command)} succeeded but complained:\n{output}")
    return errors


def link_targets(markdown: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every inline link, image and reference definition."""
    for number, line in prose_lines(markdown):
        for match in INLINE_LINK.finditer(line):
            yield number, match.group(1)
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            yield number, definition.group(1)


def broken_link(document: Path, target: str, root: Path = REPO) -> str | None:
    """Why a relative link from `document` does not resolve within `root`, or None if it does."""
    path_part, _, anchor = target.partition("#")
    resolved = (document.parent / unquote(path_part)).resolve() if path_part else document
    if root.resolve() not in (resolved, *resolved.parents):
        return "points outside the repository"
    if not resolved.exists():
        return "no such file"
    if anchor and resolved.suffix == ".md":
        anchors = github_anchors(resolved.read_text(encoding="utf-8"))
        return None if unquote(anchor) in anchors else f"no heading #{anchor} in {resolved.name}"
    return None


# --------------------------------------------------------------------------------- PromQL
def test_every_promql_example_parses(tmp_path: Path) -> None:
    expressions = [e for document in DOCUMENTS for e in promql_expressions(document)]
    documents = {expression.source.partition(":")[0] for expression in expressions}
    assert {"README.md", "docs/metrics.md"} <= documents, "the PromQL examples were not found"
    errors = promtool_errors(expressions, tmp_path)
    assert not errors, "PromQL that promtool refuses:\n" + "\n".join(
        f"{expression.source}: {message}\n    {expression.text.replace(chr(10), chr(10) + '    ')}"
        for expression, message in errors.items()
    )


def test_promtool_check_names_each_broken_expression(tmp_path: Path) -> None:
    # The README once had this: `*` binds tighter than `==`, so the vector match hit a scalar.
    block = Block(
        "promql",
        10,
        [
            "# The failure reason next to the state",
            'aws_config_conformance_pack_state{state=~".*_FAILED"} == 1',
            "  * on (account_id, region, conformance_pack) group_left(reason)",
            "    aws_config_conformance_pack_status_reason_info",
            "",
            '(aws_config_conformance_pack_state{state=~".*_FAILED"} == 1)',
            "  * on (account_id, region, conformance_pack) group_left(reason)",
            "    aws_config_conformance_pack_status_reason_info",
            "sum by (region) (rate(aws_config_exporter_api_requests_total[5m])",
            "up == 0",
        ],
    )
    expressions = split_expressions(block, "example.md")
    assert [expression.source for expression in expressions] == [
        "example.md:11",
        "example.md:15",
        "example.md:18",
        "example.md:19",
    ]
    errors = promtool_errors(expressions, tmp_path)
    assert {expression.source for expression in errors} == {"example.md:11", "example.md:18"}
    assert "vector matching only allowed between instant vectors" in errors[expressions[0]]
    assert "unclosed left parenthesis" in errors[expressions[2]]


# ---------------------------------------------------------------------------------- links
@pytest.mark.parametrize("document", DOCUMENTS, ids=DOCUMENT_IDS)
def test_relative_links_resolve(document: Path) -> None:
    markdown = document.read_text(encoding="utf-8")
    broken = [
        f"{document.relative_to(REPO)}:{number}: ({target}) {reason}"
        for number, target in link_targets(markdown)
        if not SCHEME.match(target) and (reason := broken_link(document, target))
    ]
    assert not broken, "\n".join(broken)


def test_link_check_catches_missing_files_and_headings(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Project\n\n## Quick start\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n"
        "\n"
        "## Set up: `--flag`\n"
        "[here](#set-up---flag) [gone](#nowhere) [up](../README.md#quick-start)\n"
        "[missing](no-such-file.md) `[in code](nowhere.md)` [out](../../elsewhere.md)\n"
        "```md\n"
        "[in a block](nowhere.md)\n"
        "```\n"
        "![image](../README.md) [web](https://example.com/x.md)\n"
        "[ref]: ../README.md#no-such-heading\n"
    )
    found = {
        (number, target): broken_link(page, target, root=tmp_path)
        for number, target in link_targets(page.read_text())
        if not SCHEME.match(target)
    }
    assert found == {
        (4, "#set-up---flag"): None,
        (4, "#nowhere"): "no heading #nowhere in page.md",
        (4, "../README.md#quick-start"): None,
        (5, "no-such-file.md"): "no such file",
        (5, "../../elsewhere.md"): "points outside the repository",
        (9, "../README.md"): None,
        (10, "../README.md#no-such-heading"): "no heading #no-such-heading in README.md",
    }
