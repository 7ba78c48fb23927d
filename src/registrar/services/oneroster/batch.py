"""What an import or an export does differently from a request because of its size."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Pause Python's cycle collector: an import makes millions of small objects that live until
    it ends and form no cycles, and the collector walking them again and again took half of a
    500,000-enrollment import's time (reference counting still frees everything)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
