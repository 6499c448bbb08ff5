"""Back-to-back runs of a source (runs of a source take turns) share the API's window instead
of each starting an empty one: a run leaves the answer times of its window's requests beside
the source's lock, and the next run counts them. They cross processes as epoch seconds."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crm_assets.request_budget.send_window import SendWindow


@contextmanager
def carried_over(
    window: SendWindow | None, lock: threading.Condition, sends_file: Path
) -> Iterator[None]:
    if window is not None and sends_file.exists():
        try:
            earlier = json.loads(sends_file.read_text())
        except ValueError:
            earlier = []  # a run killed while writing it: nothing to carry over
        offset = time.monotonic() - time.time()
        with lock:
            window.carry(answered + offset for answered in earlier)
    try:
        yield
    finally:
        if window is not None:
            now, offset = time.monotonic(), time.time() - time.monotonic()
            with lock:
                recent = [answered + offset for answered in window.counted(now)]
            partial = sends_file.with_suffix(".partial")
            partial.write_text(json.dumps(recent))
            partial.replace(sends_file)
