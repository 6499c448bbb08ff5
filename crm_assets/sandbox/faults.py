"""Faults scripted per path, and how a request acts one out: a status (429 with Retry-After,
5xx), a slow answer, a connection reset or a body cut mid-way, a 2xx body that is not JSON."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm_assets.sandbox.handler import SandboxHandler


@dataclass
class Fault:
    """Answer the next `times` requests whose path contains `path` with this fault."""

    path: str
    kind: str = "status"  # status | slow | reset | truncate | garbage
    status: int = 503
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0


def act_out(fault: Fault, handler: SandboxHandler) -> bool:
    """Act out the fault; False means answer normally afterwards (a slow answer)."""
    if fault.kind == "slow":
        time.sleep(fault.delay)
        return False
    if fault.kind == "status":
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        handler.send_json(fault.status, {"error": "injected fault"}, headers)
    elif fault.kind == "garbage":
        handler.send_body(200, b"<html>upstream proxy error</html>")
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
