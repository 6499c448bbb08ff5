"""Faults scripted per path (and query), and how a request acts one out: a status (429 with
Retry-After, 5xx), a slow answer, a connection reset or a body cut mid-way, a 2xx body that is
not JSON (an HTML page, a document that does not parse); and 200s that are JSON but not data:
an error envelope, the list's place holding an object, or a page of no rows in the middle of a
list (its Link to the next page kept)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from crm_assets.sandbox.api import Page, envelope

if TYPE_CHECKING:
    from crm_assets.sandbox.handler import SandboxHandler


@dataclass
class Fault:
    """Answer the next `times` requests whose path contains `path` (and whose query holds
    every `name=value` of `query`, `&`-separated: `page=2`) with this fault."""

    path: str
    # status | slow | reset | truncate | garbage | unparseable | envelope | shape | empty
    kind: str = "status"
    status: int = 503
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0
    query: str = ""

    def matches(self, path: str, query: dict[str, str]) -> bool:
        wanted = (pair.partition("=") for pair in self.query.split("&") if pair)
        return self.path in path and all(query.get(name) == value for name, _, value in wanted)

    def reshape(self, page: Page, data_selector: str | None) -> Page:
        """The page as a fault of kind `shape` or `empty` alters it; others leave it."""
        if self.kind == "empty":
            return replace(page, body=envelope(data_selector, []), rows=0)
        if self.kind == "shape":
            return replace(page, body=_object_in_place_of_list(data_selector, page), rows=0)
        return page


ERROR_ENVELOPE = {"error": {"code": "INTERNAL", "message": "temporarily unavailable"}}


def _object_in_place_of_list(data_selector: str | None, page: Page) -> Any:
    """The page's envelope with an object where its list of rows belongs."""
    container = (data_selector or "").replace("[*]", ".*").split(".*")[0]
    return envelope(container, {"items": page.rows, "status": "degraded"})


def act_out(fault: Fault, handler: SandboxHandler) -> bool:
    """Act out the fault; False means answer afterwards (a slow answer, or a page the fault
    reshapes)."""
    if fault.kind == "slow":
        time.sleep(fault.delay)
        return False
    if fault.kind in ("shape", "empty"):
        return False
    if fault.kind == "envelope":
        handler.send_json(200, ERROR_ENVELOPE)
    elif fault.kind == "status":
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        handler.send_json(fault.status, {"error": "injected fault"}, headers)
    elif fault.kind == "garbage":
        handler.send_body(200, b"<html>upstream proxy error</html>")
    elif fault.kind == "unparseable":
        handler.send_body(200, b'{"data": [{"id": 1, "name": "half a document"')
    elif fault.kind in ("reset", "truncate"):
        body = b'{"data": [{"id": 1, "name": "cut'
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body) * 4))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        if fault.kind == "reset":
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        handler.close_connection = True
    return True
