"""glibc's allocator, told to give freed memory back to the system.

Each scrape builds an answer of a few hundred bytes a series and frees it; each read parses
AWS pages in a worker thread and frees them. By default glibc gives every busy thread an arena
of its own (up to 8 per core) and, once a large block has been freed, serves blocks up to that
size from those arenas instead of the system, which keeps them: the resident memory of a
replica of 200 targets grew by about a third over the memory it used
(docs/performance.md#memory). Two settings of `mallopt(3)` stop both; an operator's own
`MALLOC_ARENA_MAX` or `MALLOC_MMAP_THRESHOLD_` in the environment wins. Elsewhere (musl,
macOS) nothing changes.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

# mallopt(3) parameters, from glibc's <malloc.h>.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# environment variable → (parameter, value): two arenas for every thread; blocks of 128 KiB
# and more from the system and back to it when freed (glibc's initial threshold, kept fixed).
SETTINGS = {
    "MALLOC_ARENA_MAX": (_M_ARENA_MAX, 2),
    "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, 128 * 1024),
}


def tune_allocator(environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Apply `SETTINGS` not set in `environ`, before the threads start; what was applied."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return {}
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    applied = {}
    for variable, (parameter, value) in SETTINGS.items():
        if variable not in environ and mallopt(parameter, value) == 1:
            applied[variable] = value
    settings = " ".join(f"{variable}={value}" for variable, value in applied.items())
    log.debug("allocator settings", extra={"applied": settings})
    return applied
