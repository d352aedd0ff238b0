"""The node's HTTP JSON API on 127.0.0.1 (stdlib http.server in a thread).

    GET /status                {rollup_id, format, mode,
                                head {number, engine_number, timestamp, state_root, engine_block_hash},
                                firm_head, soft_head, firm_head_engine_number, soft_head_engine_number,
                                oldest_kept, keep_blocks, engine_url, error}
    GET /block/<number>        the rollup block `number`: {number, engine_number, state_root, tx_count,
                                forced_count, shared_heights, ...}
    GET /block/engine/<number> the same, found by its engine (anvil) block number

The node keeps only its most recent `keep_blocks` blocks; an older one answers 404 saying so.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .host import NodeHost


def start_api(node: NodeHost, port: int = 0) -> ThreadingHTTPServer:
    """Serve the node's views on 127.0.0.1:`port` (0: a free port) from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # http.server's name
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/status":
                self._send(200, node.status())
                return
            if path.startswith("/block/"):
                self._block(path.removeprefix("/block/"))
                return
            self._send(404, {"error": f"no route {path}"})

        def _block(self, arg: str) -> None:
            """`/block/<n>`: rollup block n. `/block/engine/<n>`: the rollup block mined as engine block n
            (engine number = rollup number - first rollup number + 1, one engine block per rollup block)."""
            by_engine = arg.startswith("engine/")
            try:
                asked = int(arg.removeprefix("engine/"))
            except ValueError:
                self._send(400, {"error": "block number must be an integer (/block/<n> or /block/engine/<n>)"})
                return
            number: int | None = asked
            if by_engine:
                number = node.engine_to_rollup(asked)
                if number is None:
                    self._send(404, {"error": f"engine block {asked}: no rollup block executed yet"})
                    return
            what = f"engine block {asked} (rollup block {number})" if by_engine else f"rollup block {number}"
            assert number is not None
            view = node.block_view(number)
            if view is not None:
                self._send(200, view)
            elif node.is_evicted(number):
                self._send(404, {"error": f"{what} is older than the retained window: the node keeps the last "
                                          f"{node.config.keep_blocks} blocks, from rollup block {node.oldest_kept}"})
            else:
                self._send(404, {"error": f"{what} not executed"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"rollup-node-api-{node.rollup_id}", daemon=True).start()
    return server
