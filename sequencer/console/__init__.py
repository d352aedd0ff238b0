"""The operator console (issue 15): a read-only web page on the sequencer's own asyncio loop.

`settings.py` is the `[console]` table (imported by the config reader, no aiohttp), `snapshot.py`
samples the node into one JSON-able picture, `server.py` serves the page and streams the pictures
by server-sent events, `static/` holds the page (plain HTML, CSS and JS: no build step)."""
