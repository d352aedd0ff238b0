"""The web console (issue 15): what it serves, that it moves with the node, and who may read it."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from pathlib import Path

import aiohttp
import anyio
import pytest
from eth_utils import keccak
from seq_helpers import config_doc

from sequencer.config import parse_config
from sequencer.core.types import Bundle, Transaction
from sequencer.errors import BadInput
from sequencer.keys import write_key
from sequencer.server import running
from sequencer.service.security import generate_dev_pki

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _cfg(tmp: Path, console: dict, tls: dict | None = None):
    if not (tmp / "seq.key").exists():
        write_key(tmp / "seq.key")
    doc = config_doc(tmp)
    doc["console"] = console
    if tls:
        doc["tls"] = tls
    return parse_config(doc, tmp)


async def _picture(session: aiohttp.ClientSession, url: str, **kw: object) -> dict:
    async with session.get(url + "/api/snapshot", **kw) as r:  # type: ignore[arg-type]
        assert r.status == 200, await r.text()
        return await r.json()


async def test_console_follows_traffic_and_shows_bundles(tmp_path: Path, tx_for) -> None:
    cfg = _cfg(tmp_path, {"listen": "127.0.0.1:0", "interval_ms": 100})
    async with running(cfg) as srv, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{srv.console_port}"
        async with http.get(url + "/") as r:
            assert r.status == 200 and "sharedseq console" in await r.text()
        before = await _picture(http, url)
        assert before["latency"]["p50_s"] is None  # nothing observed: the page says "no traffic yet"
        assert before["rollups"]["901"]["admitted"] == 0
        for _ in range(5):
            await srv.node.submit(Transaction(901, tx_for(901)))
        bundle = Bundle((Transaction(902, tx_for(902)), Transaction(903, tx_for(903))))
        receipts = await srv.node.submit_bundle(bundle)
        # Until a picture has sampled the bundle's sealed block and all six receipts (every 100 ms on a
        # quiet machine; the asserts below then check that picture exactly).
        with anyio.fail_after(60):
            while True:
                after = await _picture(http, url)
                if after["shared"]["height"] >= receipts[0].height and after["latency"]["count"] >= 6 \
                        and after["bundles"]:
                    break
                await asyncio.sleep(0.1)
        assert after["version"] > before["version"]
        assert after["shared"]["height"] >= receipts[0].height
        assert after["rollups"]["901"]["admitted"] == 5
        assert after["rollups"]["902"]["last_data_height"] == receipts[0].height
        # One receipt latency per submission: five transactions and one bundle.
        assert after["latency"]["count"] == 6 and after["latency"]["p50_s"] is not None
        assert after["bundles"][0] == {"height": receipts[0].height, "bundle_hash": "0x" + bundle.bundle_hash.hex(),
                                       "legs": [{"rollup": 902, "index": receipts[0].index,
                                                 "tx": "0x" + keccak(bundle.legs[0].payload).hex()},
                                                {"rollup": 903, "index": receipts[1].index,
                                                 "tx": "0x" + keccak(bundle.legs[1].payload).hex()}]}
        at = [b for b in after["blocks"] if b["height"] == receipts[0].height]
        assert at and at[0]["txs"].get("902") == 1 and at[0]["txs"].get("903") == 1

        # Live: the event stream delivers successive pictures without asking again.
        async with http.get(url + "/api/events") as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            versions = []
            async for line in r.content:
                if line.startswith(b"data: "):
                    versions.append(json.loads(line[6:])["version"])
                    if len(versions) == 3:
                        break
        assert versions == sorted(versions) and len(set(versions)) == 3

        # Read-only, and no path of the request reaches the filesystem.
        async with http.post(url + "/api/snapshot") as r:
            assert r.status == 405
        for path in ("/static/..%2f..%2fconfig.py", "/static/server.py", "/static/../server.py"):
            async with http.get(url + path) as r:
                assert r.status == 404, path


async def test_console_is_off_unless_configured(tmp_path: Path) -> None:
    write_key(tmp_path / "seq.key")
    assert parse_config(config_doc(tmp_path), tmp_path).console is None
    from sequencer.config import load_config
    sample = Path(__file__).resolve().parents[2] / "deploy" / "sequencer.sample.toml"
    assert load_config(sample).console is None  # the production template ships it off
    with pytest.raises(BadInput, match="console.listen"):
        _cfg(tmp_path, {"listen": "nonsense"})
    with pytest.raises(BadInput, match="unknown option"):
        _cfg(tmp_path, {"listen": "127.0.0.1:0", "pasword_file": "x"})


async def test_console_behind_tls_needs_the_admin_password(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path / "pki", ())
    tls = {"cert_file": str(pki["server_cert"]), "key_file": str(pki["server_key"])}
    with pytest.raises(BadInput, match="admin_password_file"):
        _cfg(tmp_path, {"listen": "127.0.0.1:0"}, tls)
    (tmp_path / "console.pw").write_text("correct horse battery staple\n")
    cfg = _cfg(tmp_path, {"listen": "127.0.0.1:0", "admin_password_file": "console.pw"}, tls)
    trust = ssl.create_default_context(cafile=str(pki["ca"]))
    async with running(cfg) as srv, aiohttp.ClientSession() as http:
        url = f"https://127.0.0.1:{srv.console_port}"
        for auth in (None, "admin:wrong password", "root:correct horse battery staple", "garbage"):
            headers = {} if auth is None else {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
            for path in ("/", "/api/snapshot", "/api/events", "/static/console.js"):
                async with http.get(url + path, ssl=trust, headers=headers) as r:
                    assert r.status == 401, (auth, path)
        good = {"Authorization": "Basic " + base64.b64encode(b"admin:correct horse battery staple").decode()}
        assert (await _picture(http, url, ssl=trust, headers=good))["shared"]["height"] >= -1
        with pytest.raises(aiohttp.ClientError):  # no plaintext side door on the same port
            async with http.get(f"http://127.0.0.1:{srv.console_port}/api/snapshot", headers=good):
                pass


async def test_console_with_mutual_tls_needs_a_client_certificate_too(tmp_path: Path) -> None:
    pki = generate_dev_pki(tmp_path / "pki", ("operator",))
    tls = {"cert_file": str(pki["server_cert"]), "key_file": str(pki["server_key"]), "client_ca_file": str(pki["ca"])}
    (tmp_path / "console.pw").write_text("correct horse battery staple\n")
    cfg = _cfg(tmp_path, {"listen": "127.0.0.1:0", "admin_password_file": "console.pw"}, tls)
    good = {"Authorization": "Basic " + base64.b64encode(b"admin:correct horse battery staple").decode()}
    no_cert = ssl.create_default_context(cafile=str(pki["ca"]))
    with_cert = ssl.create_default_context(cafile=str(pki["ca"]))
    with_cert.load_cert_chain(str(pki["operator_cert"]), str(pki["operator_key"]))
    async with running(cfg) as srv, aiohttp.ClientSession() as http:
        url = f"https://127.0.0.1:{srv.console_port}"
        with pytest.raises(aiohttp.ClientError):  # the password alone is not enough
            async with http.get(url + "/api/snapshot", ssl=no_cert, headers=good) as r:
                await r.read()
        async with http.get(url + "/api/snapshot", ssl=with_cert) as r:  # nor the certificate alone
            assert r.status == 401
        assert "shared" in await _picture(http, url, ssl=with_cert, headers=good)
