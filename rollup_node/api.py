"""The node's HTTP JSON API on 127.0.0.1 (stdlib http.server in a thread).

    GET /status         {rollup_id, format, mode, head {number, timestamp, state_root, engine_block_hash},
                         firm_head, soft_head, engine_url}
    GET /block/<number> {number, state_root, tx_count, forced_count, shared_heights, ...}
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .node import RollupNode


def start_api(node: RollupNode, port: int = 0) -> ThreadingHTTPServer:
    """Serve the node's views on 127.0.0.1:`port` (0: a free port) from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/status":
                self._send(200, node.status())
                return
            if path.startswith("/block/"):
                try:
                    number = int(path.removeprefix("/block/"))
                except ValueError:
                    self._send(400, {"error": "block number must be an integer"})
                    return
                view = node.block_view(number)
                if view is None:
                    self._send(404, {"error": f"rollup block {number} not executed"})
                else:
                    self._send(200, view)
                return
            self._send(404, {"error": f"no route {path}"})

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"rollup-node-api-{node.rollup_id}", daemon=True).start()
    return server
