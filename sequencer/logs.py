"""The one logging setup of every program (`sharedseq serve`, batcher, rollup-node, devnet): structured
logs on stderr, one JSON object a line, or plain text for a terminal."""

from __future__ import annotations

import json
import logging
import sys
import time

from sequencer.errors import BadInput

FORMATS = ("json", "text")
"""`log_format` values: "json" for a log collector, "text" for a person at a terminal."""
LEVELS = ("debug", "info", "warning", "error", "critical")
DEFAULT_LEVEL = "info"
"""Every program's `--log-level` default."""
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup_logging(fmt: str = "json", level: str = DEFAULT_LEVEL) -> None:
    """Send every logger's records to stderr in `fmt` from `level` up (either case: "INFO", "info").
    An unknown format or level is refused (BadInput), not silently replaced."""
    if fmt not in FORMATS:
        raise BadInput(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if level.lower() not in LEVELS:
        raise BadInput(f"log level {level!r}: expected one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
