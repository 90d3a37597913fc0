"""The region names the installed botocore knows for AWS Config, so a misspelt one fails at start.

A typo such as `us-esat-1` would otherwise start cleanly and fail every scrape on DNS. The names
are read from botocore's endpoint data at run time, never copied here: upgrading botocore is
how a newer region becomes known, and `allow_unknown_regions` is the way out until then.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from difflib import SequenceMatcher

import botocore
import botocore.session

from exporter.strict_yaml import ConfigError

SERVICE = "config"
# Letters, then words, then a number: `eusc-de-east-1` too; never a pseudo-region (`aws-global`).
REGION_PATTERN = re.compile(r"^[a-z]{2,}(-[a-z]+)+-\d+$")
# Where the AWS SDKs look for a default region, in the order they are reported.
ENVIRONMENT_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
# difflib's own default: below this a "did you mean" guesses more than it helps.
_CUTOFF = 0.6


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows for AWS Config, in every partition; read once per process.

    Two sources, united because neither holds the other: the regions endpoints.json lists for
    Config (what `get_available_regions` reads) and the regions of partitions.json, which a
    new botocore learns first and where Config's endpoint rules resolve too. The latter's
    pseudo-regions (`aws-global`, …) are left out by REGION_PATTERN.
    """
    session = botocore.session.get_session()
    names = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(SERVICE, partition_name=partition)
    }
    for partition in session.get_data("partitions").get("partitions", ()):
        names.update(partition.get("regions", {}))
    return frozenset(name for name in names if REGION_PATTERN.fullmatch(name))


def closest_region(name: str) -> str | None:
    """The known region `name` most likely misspells, or None if none is close.

    difflib's ratio ties a transposition (`esat`) with a substitution (`west`); the
    character-count ratio breaks the tie towards the transposition.
    """
    typed = name.lower().replace("_", "-")

    def score(known: str) -> tuple[float, float, str]:
        matcher = SequenceMatcher(None, typed, known)
        return matcher.ratio(), matcher.quick_ratio(), known

    best = max(known_regions(), key=score, default=None)
    return best if best is not None and score(best)[0] >= _CUTOFF else None


def region_problem(name: str, *, allow_unknown: bool = False) -> str | None:
    """Why `name` can't be used as a region, or None if it can.

    With `allow_unknown` any well-formed name passes: botocore resolves Config's endpoint for
    a region its data does not list, so a region newer than botocore still works.
    """
    if name in known_regions() or (allow_unknown and REGION_PATTERN.fullmatch(name)):
        return None
    suggestion = closest_region(name)
    if suggestion is not None:
        return f"unknown region {name!r} (did you mean {suggestion!r}?)"
    return (
        f"unknown region {name!r} (not known to botocore {botocore.__version__}; for a "
        "region newer than that, upgrade botocore or set allow_unknown_regions: true)"
    )


def check_environment_regions(environ: Mapping[str, str], *, allow_unknown: bool = False) -> None:
    """Refuse a misspelt AWS_REGION or AWS_DEFAULT_REGION as the config file's regions are.

    Both are checked when set, even the one the SDK ignores: either may be what an operator
    believes is in use. Unset and empty values are no region.
    """
    for variable in ENVIRONMENT_VARIABLES:
        name = environ.get(variable, "")
        problem = region_problem(name, allow_unknown=allow_unknown) if name else None
        if problem is not None:
            raise ConfigError(f"environment variable {variable}", problem)
