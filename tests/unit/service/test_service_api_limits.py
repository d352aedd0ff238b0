"""The API memory bounds as configuration ([sequencer] options, sequencer/service/limits.py)."""

from __future__ import annotations

import tomllib

import anyio
import pytest
from repo_root import ROOT

from sequencer.config import parse_config
from sequencer.errors import BadInput
from sequencer.service.limits import ApiLimits, StreamWindow, list_answer_bound

SAMPLE = ROOT / "deploy" / "sequencer.sample.toml"


def doc(**sequencer: object) -> dict:
    return {"sequencer": sequencer, "rollups": [{"id": 901, "name": "op"}]}


def test_the_sample_documents_every_api_limit_with_its_default() -> None:
    seq = tomllib.loads(SAMPLE.read_text())["sequencer"]
    for name in ApiLimits.__dataclass_fields__:
        assert seq[name] == getattr(ApiLimits(), name), name
        assert f"\n{name} = " in SAMPLE.read_text()


def test_limits_are_read_and_checked() -> None:
    cfg = parse_config(doc(max_list_items=10, stream_stall_timeout_s=2.5))
    assert cfg.api.max_list_items == 10 and cfg.api.stream_stall_timeout_s == 2.5
    bad = [
        ({"max_list_items": 0}, "at least 1"),
        ({"max_list_items": "many"}, "expected an integer"),
        ({"max_list_items": 10.5}, "expected an integer"),
        ({"stream_stall_timeout_s": 0}, "positive"),
        ({"max_answer_bytes": 8 << 20}, "max_message_bytes"),  # over the 4 MB default message size
        ({"stream_window_bytes": 1 << 20}, "max_answer_bytes <= stream_window_bytes"),
        ({"total_request_bytes": 1 << 20}, "total_request_bytes"),
        ({"max_list_items": 100_000}, "a full list's answer"),
        ({"subscribe_max_ahead": -1}, "negative"),
    ]
    for options, words in bad:
        with pytest.raises(BadInput, match=words):
            parse_config(doc(**options))


def test_a_full_list_fits_the_default_answer_bound_and_message_size() -> None:
    d = ApiLimits()
    assert list_answer_bound(d.max_list_items) <= d.max_answer_bytes <= 4 * 1024 * 1024


@pytest.mark.parametrize("backend", ["asyncio", "trio"])  # limits.py is backend-neutral (issue 10 item 5)
def test_a_stream_window_waits_for_bytes_and_count(backend: str) -> None:
    anyio.run(_window_waits, backend=backend)


async def _window_waits() -> None:
    w = StreamWindow(max_items=2, max_bytes=100)
    await w.reserve(60)
    with anyio.move_on_after(0.05) as blocked:
        await w.reserve(60)  # 120 > 100 bytes: waits
    assert blocked.cancelled_caught
    w.resize(-30)  # the first answer turned out to be 30 bytes
    with anyio.fail_after(1):
        await w.reserve(60)  # 30 + 60 fits now
    with anyio.move_on_after(0.05) as blocked:
        await w.reserve(1)  # two owed already: waits on count
    assert blocked.cancelled_caught
    w.release(30)
    with anyio.fail_after(1):
        await w.reserve(1)
    assert (w.items, w.bytes) == (2, 61)
