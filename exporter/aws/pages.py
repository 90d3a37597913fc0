"""Reading every page of an AWS answer before a deadline, refusing answers without data, and
skipping what was deleted between a listing and the read of it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import botocore.exceptions

from exporter.aws.client_classes import new_paginator
from exporter.aws.errors import DeadlineExceededError, InvalidResponseError
from exporter.aws.hooks import deadline_argument
from exporter.deadline import Deadline

_PAGINATORS = "_exporter_paginators"  # the attribute of a client that holds its paginators
_paginators_lock = threading.Lock()


def paginator(client: Any, operation: str) -> Any:
    """The client's paginator for `operation`, built once (`new_paginator`).

    A paginator holds no state of its own (each `paginate` starts a new page iterator), so
    threads share it. The paginators are kept on the client itself: each holds its client,
    so a cache beside the client (even keyed weakly) would keep every client made alive, and
    discovery makes and drops accounts for as long as the exporter runs.
    """
    with _paginators_lock:
        built: dict[str, Any] = vars(client).setdefault(_PAGINATORS, {})
        if operation not in built:
            built[operation] = new_paginator(client, operation)
        return built[operation]


def _checked(page: dict[str, Any], result_key: str) -> list[dict[str, Any]]:
    """The page's items; a 2xx page without them is an error (botocore parses garbage as {})."""
    if result_key not in page:
        raise InvalidResponseError(f"the response has no {result_key}")
    return list(page[result_key])


def read_all_pages(
    client: Any,
    operation: str,
    result_key: str,
    page_size: int | None,
    deadline: Deadline,
    **arguments: Any,
) -> list[dict[str, Any]]:
    """Every page of a paginated operation at `page_size`, through botocore's paginator.

    `page_size` None is for operations whose page size AWS fixes. `deadline` also stops
    botocore's retries of each page.
    """
    items: list[dict[str, Any]] = []
    paging = {"PaginationConfig": {"PageSize": page_size}} if page_size else {}
    pages = paginator(client, operation).paginate(
        **paging, **arguments, **deadline_argument(deadline)
    )
    for page in pages:
        items += _checked(page, result_key)
        if deadline.passed() and "NextToken" in page:
            raise DeadlineExceededError("the deadline passed between pages")
    return items


def read_token_pages(
    client: Any,
    operation: str,
    result_key: str,
    deadline: Deadline,
    **arguments: Any,
) -> list[dict[str, Any]]:
    """Every page of an operation botocore has no paginator for, following `NextToken`."""
    call = getattr(client, operation)
    items: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = call(**arguments, **token, **deadline_argument(deadline))
        items += _checked(page, result_key)
        if not page.get("NextToken"):
            return items
        if deadline.passed():
            raise DeadlineExceededError("the deadline passed between pages")
        token = {"NextToken": page["NextToken"]}


def input_max(service_model: Any, operation: str, member: str, *, each: bool = False) -> int:
    """The `max` botocore's model sets on `operation`'s input `member` (on each of its items
    with `each`): AWS's page sizes and name limits change with the model, never with a copy."""
    shape = service_model.operation_model(operation).input_shape.members[member]
    return int((shape.member if each else shape).metadata["max"])


def unless_gone(code: str, read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """`read()`, or nothing when what it asks about was deleted since it was listed (AWS
    answers with the error `code`)."""
    try:
        return read()
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == code:
            return []
        raise


def each_or_alone(
    code: str, names: Sequence[str], size: int, read: Callable[[list[str]], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """`read` over chunks of `size` names; a chunk that names something deleted (error `code`)
    is asked name by name, so only the deleted name is skipped."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(names), size):
        chunk = list(names[start : start + size])
        try:
            rows += read(chunk)
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") != code:
                raise
            for name in chunk:
                rows += unless_gone(code, functools.partial(read, [name]))
    return rows
