"""Service operations for the multi-process tests, loaded through `VIRTA_PLUGINS`."""

from __future__ import annotations

import os
import time
from typing import Any

from engine.operations import register_external


def slow_register(*, customer: str, seconds: float) -> dict[str, Any]:
    """Stand in for a slow external registry: takes `seconds`, notes each call in a file."""
    marker = os.environ.get("VIRTA_TEST_MARKERS")
    if marker:
        with open(marker, "a") as out:
            out.write(f"start {customer} {os.getpid()}\n")
    time.sleep(seconds)
    return {"registered": customer}


register_external("slow_register", slow_register)
