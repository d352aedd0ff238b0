"""`sharedseq batch decode --posting`: what the batcher puts on L1, read back by an operator."""

from __future__ import annotations

import json

import pytest
from test_derivation import ROLLUPS, make_blocks

from rollup_adapters.base import RollupTiming, group_rollup_blocks
from rollup_adapters.cli import main, post_window_selector
from rollup_adapters.derivation import Cursor, ForcedTx, encode_window_batch, place_forced
from rollup_adapters.registry import get_spec
from sequencer.l1.inbox import calldata, function_selector

WINDOW = (1, 2, b"\x00" * 32, b"\x01" * 32, b"\x02" * 32, 3, 4, 5, b"\x03" * 32, b"\x04" * 32, b"\x05" * 32)


def window_batches() -> dict[int, tuple[bytes, int]]:
    blocks = make_blocks(7)
    out = {}
    for rid, (fmt, bt) in ROLLUPS.items():
        timing = RollupTiming(0, bt)
        cursor = Cursor(timing.window_of(blocks[0].header.timestamp_ms))
        rblocks = group_rollup_blocks(blocks, rid, timing, first_number=cursor.next_number)
        forced = [ForcedTx(rid, 0, rblocks[0].transactions[0] if rblocks[0].transactions else b"\xc0", 1, 0)]
        rblocks = place_forced(rblocks, forced if get_spec(fmt).forced_layer is not None else [], 0)
        out[rid] = (encode_window_batch(fmt, rid, bt, rblocks, cursor), sum(len(b.transactions) for b in rblocks))
    return out


def post_window_input(batches: dict[int, tuple[bytes, int]]) -> bytes:
    """SequencerInbox.postWindow input data (docs/settlement.md section 3), encoded from the artifact's ABI."""
    ids = sorted(batches)
    return bytes.fromhex(calldata("postWindow", WINDOW, b"\x00" * 65, ids, [batches[i][0] for i in ids],
                                  [0] * len(ids), b"\xc0")[2:])


def test_the_cli_selector_is_the_inbox_abis() -> None:
    assert post_window_selector() == function_selector("postWindow")


@pytest.mark.parametrize("rollup_id", sorted(ROLLUPS))
def test_decode_a_rollups_batch_from_a_whole_posting(rollup_id: int, tmp_path, capsys) -> None:
    batches = window_batches()
    f = tmp_path / "input.hex"
    f.write_text("0x" + post_window_input(batches).hex())
    fmt = ROLLUPS[rollup_id][0]
    assert main(["batch", "decode", "--format", fmt, "--posting", "--rollup", str(rollup_id), str(f)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["payloads"], "no payloads decoded"
    layers = {p["layer"] for p in doc["payloads"]}
    assert layers <= {"batcher-tx", "payload", "batch", "forced-batch"}
    if get_spec(fmt).forced_layer is not None:  # the zkEVM: forced batches travel as payloads of their own
        assert doc["forced_indices"] and "forced-batch" in layers
        txs = sum(len(b["txs"]) for p in doc["payloads"] if p["layer"] == "batch" for b in p["blocks"])
        assert txs == batches[rollup_id][1]
    # The container alone decodes the same way.
    g = tmp_path / "container.bin"
    g.write_bytes(batches[rollup_id][0])
    assert main(["batch", "decode", "--format", fmt, "--posting", str(g)]) == 0
    assert json.loads(capsys.readouterr().out) == doc


def test_a_posting_needs_the_rollup_and_names_the_missing_one(tmp_path, capsys) -> None:
    f = tmp_path / "input.bin"
    f.write_bytes(post_window_input(window_batches()))
    assert main(["batch", "decode", "--format", "nitro", "--posting", str(f)]) == 1
    assert "--rollup" in capsys.readouterr().err
    assert main(["batch", "decode", "--format", "nitro", "--posting", "--rollup", "7", str(f)]) == 1
    assert "no batch for rollup 7" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "message"), [("0x0g12", "'g' at character 3"), ("0x012", "odd number")])
def test_hex_typos_are_named(text: str, message: str, tmp_path, capsys) -> None:
    f = tmp_path / "bad.hex"
    f.write_text(text)
    assert main(["batch", "decode", "--format", "zkevm", str(f)]) == 1
    assert message in capsys.readouterr().err
