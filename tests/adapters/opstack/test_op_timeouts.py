"""OP Stack channel timeouts, fed by each batcher transaction's L1 inclusion block: op-node's
channel bank before Holocene (channel_bank.go Read, IngestFrame), its channel assembler from
Holocene (channel_assembler.go channelTimedOut), both with `OpenBlockNumber() + ChannelTimeout <
origin.Number`, and ChannelTimeout from chain_spec.go (the config's channel_timeout, 300 on OP
chains, before Granite; params.ChannelTimeoutGranite = 50 from Granite)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opstack_helpers import read_lines

from rollup_adapters.base import RollupBlock
from rollup_adapters.cli import main
from rollup_adapters.opstack import FORMAT
from rollup_adapters.opstack.batches import SingularBatch, encode_batch
from rollup_adapters.opstack.chain_spec import OP_MAINNET, parse_rollup_config
from rollup_adapters.opstack.channel import TIMED_OUT, Assembly, bank_channels, encode_channel, holocene_channels
from rollup_adapters.opstack.frames import Frame, encode_batcher_tx
from rollup_adapters.opstack.json_view import decode_batcher_txs_json, decode_json
from rollup_adapters.opstack.pipeline import DEFAULT_CONTEXT, ForkContext, assemble, check_l1_blocks, derive_batches
from sequencer.errors import BadInput, DecodeError

FJORD = OP_MAINNET.activation("fjord")
GRANITE = OP_MAINNET.activation("granite")
HOLOCENE = OP_MAINNET.activation("holocene")
CANYON = OP_MAINNET.activation("canyon")


def op_frame(text: str) -> Frame:
    """op-node's testFrame "channel:number:data[!]" (channel_bank_test.go)."""
    cid, num, rest = text.split(":", 2)
    return Frame(cid.encode().ljust(16, b"\0"), int(num), rest.removesuffix("!").encode(), rest.endswith("!"))


def parse_txs(spec: str) -> tuple[list[list[Frame]], list[int | None]]:
    """"BLOCK: frames ; BLOCK: frames" -> frames per transaction and their L1 blocks ("-": unknown)."""
    txs, blocks = [], []
    for tx in spec.split(";"):
        block, _, frames = tx.partition(":")
        blocks.append(None if block.strip() == "-" else int(block))
        txs.append([op_frame(f) for f in frames.split()])
    return txs, blocks


def timed_out(assembly: Assembly) -> int:
    """Channels dropped for their timeout (op-node's RecordChannelTimedOut count)."""
    return sum(1 for d in assembly.dropped if d.frame_number == -1 and d.reason.startswith(TIMED_OUT))


def table(name: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")] for line in read_lines(name)]


# --- the reference's own cases -------------------------------------------------------------------


@pytest.mark.parametrize("case", table("channel_timeout.txt"), ids=lambda c: c[0])
def test_reference_channel_timeout_cases(case):
    """channel_assembler_test.go TestChannelStage_NextData_Timeout and op-e2e
    channel_timeout_test.go, at Holocene with Granite's 50 (testdata header)."""
    _, spec, out, count, still_open = case
    txs, blocks = parse_txs(spec)
    assembly = holocene_channels(txs, 10_000_000, blocks, 50)
    assert [c.data.decode() for c in assembly.ready] == ([] if out == "-" else out.split())
    assert timed_out(assembly) == int(count)
    assert [c.rstrip(b"\0").decode() for c in assembly.incomplete] == ([] if still_open == "-" else [still_open])


def test_reference_cases_without_l1_blocks_do_not_time_out():
    """The same frames with unknown blocks: today's rule, nothing times out, so the assembler
    test's channel completes (the fixture above fails if the timeout were not applied)."""
    txs, _ = parse_txs("0: a:0:foo ; 50: a:1:bar ; 51: a:2:baz!")
    assert [c.data for c in holocene_channels(txs, 10_000_000).ready] == [b"foobarbaz"]


# --- tables: channel bank (before Holocene) and assembler (from Holocene) ------------------------

# (desc, transactions, canyon, timeout, channels read, timed-out count): channel_bank.go
# IngestFrame (a frame for a timed-out channel is ignored; an unknown id opens a new channel at
# the frame's block), Read (timed-out channels leave from the front at every L1 block; pre-Canyon
# only the oldest is read, from Canyon the first ready one), tryReadChannelAtIndex.
BANK_CASES = [
    ("boundary-kept", "0: a:0:x ; 300: a:1:y!", True, 300, "xy", 0),
    ("boundary-dropped", "0: a:0:x ; 301: a:1:y!", True, 300, "-", 1),
    # The op-e2e scenarios before Holocene: the late closing frame opens a new channel under the
    # same id, which the resubmitted frame 0 then completes (the assembler drops that frame).
    ("e2e-resubmit", "1: a:0:first ; 53: a:0:first ; 54: a:1:second!", True, 50, "firstsecond", 1),
    ("e2e-close-late", "1: a:0:first ; 53: a:1:second! ; 54: a:0:first", True, 50, "firstsecond", 1),
    # Pre-Canyon: b is ready but waits behind a; a times out at block 302, where Read takes b
    # (b, opened at 10, is good until 310), long before the next batcher data at block 400.
    ("pre-canyon-waiting-read-at-head-timeout", "1: a:0:x ; 10: b:0:y! ; 400: c:0:z!", False, 300, "y z", 1),
    # ... but b opened in a's block times out with it.
    ("pre-canyon-waiting-times-out-with-head", "1: a:0:x b:0:y! ; 400: c:0:z!", False, 300, "z", 2),
    ("canyon-ready-read-at-once", "1: a:0:x ; 10: b:0:y! ; 400: a:1:w!", True, 300, "y", 1),
    ("several-time-out-at-once", "1: a:0:x ; 2: b:0:y ; 3: c:0:z ; 100: d:0:d!", True, 50, "d", 3),
    ("no-blocks-no-timeout", "-: a:0:x ; -: a:1:y!", True, 50, "xy", 0),
]


@pytest.mark.parametrize(("desc", "spec", "canyon", "timeout", "out", "count"), BANK_CASES,
                         ids=[c[0] for c in BANK_CASES])
def test_channel_bank_timeouts(desc, spec, canyon, timeout, out, count):
    txs, blocks = parse_txs(spec)
    assembly = bank_channels(txs, 100_000_000, canyon=canyon, l1_blocks=blocks, timeout=timeout)
    assert [c.data.decode() for c in assembly.ready] == ([] if out == "-" else out.split())
    assert timed_out(assembly) == count


# (desc, transactions, timeout, channels completed, timed-out count): channel_assembler.go
# NextData (the staged channel is dropped once timed out, before the next frames are taken).
ASSEMBLER_CASES = [
    ("granite-boundary-kept", "0: a:0:x ; 50: a:1:y!", 50, "xy", 0),
    ("granite-boundary-dropped", "0: a:0:x ; 51: a:1:y!", 50, "-", 1),
    ("bedrock-timeout-keeps-what-granite-drops", "0: a:0:x ; 51: a:1:y!", 300, "xy", 0),
    ("new-frame-0-after-timeout", "0: a:0:x ; 51: b:0:y!", 50, "y", 1),
    ("timeout-counts-from-the-opening-frame", "0: a:0:x ; 40: a:1:y ; 60: a:2:z!", 50, "-", 1),
    ("no-blocks-no-timeout", "-: a:0:x ; -: a:1:y!", 50, "xy", 0),
]


@pytest.mark.parametrize(("desc", "spec", "timeout", "out", "count"), ASSEMBLER_CASES,
                         ids=[c[0] for c in ASSEMBLER_CASES])
def test_channel_assembler_timeouts(desc, spec, timeout, out, count):
    txs, blocks = parse_txs(spec)
    assembly = holocene_channels(txs, 10_000_000, blocks, timeout)
    assert [c.data.decode() for c in assembly.ready] == ([] if out == "-" else out.split())
    assert timed_out(assembly) == count


# --- forks pick the timeout; real batcher data ---------------------------------------------------


def singular(ts: int) -> bytes:
    return encode_batch(SingularBatch(b"\x01" * 32, 5, b"\x02" * 32, ts, (b"\x02\xc0",)))


def split_channel(*timestamps: int) -> list[bytes]:
    """One zlib channel of singular batches in two batcher transactions (frame 0, closing frame 1)."""
    data = encode_channel([singular(t) for t in timestamps], "zlib")
    cid = b"\x42" * 16
    half = len(data) // 2
    return [encode_batcher_tx([Frame(cid, 0, data[:half], False)]),
            encode_batcher_tx([Frame(cid, 1, data[half:], True)])]


CUSTOM = parse_rollup_config({"genesis": {"l2_time": 0}, "block_time": 2, "l2_chain_id": 7, "channel_timeout": 120,
                              "regolith_time": 0, "canyon_time": 0, "delta_time": 0, "ecotone_time": 0,
                              "fjord_time": 0, "granite_time": 1000}, "custom")

# (context, gap in L1 blocks between the two frames, derived?, timeout): chain_spec.go ChannelTimeout.
FORK_CASES = [
    (ForkContext(OP_MAINNET, FJORD), 300, True, 300),       # pre-Granite bank: 300
    (ForkContext(OP_MAINNET, FJORD), 301, False, 300),
    (ForkContext(OP_MAINNET, FJORD), 51, True, 300),
    (ForkContext(OP_MAINNET, CANYON - 1), 301, False, 300),  # pre-Canyon bank
    (ForkContext(OP_MAINNET, GRANITE), 50, True, 50),       # Granite bank: 50
    (ForkContext(OP_MAINNET, GRANITE), 51, False, 50),
    (ForkContext(OP_MAINNET, HOLOCENE), 50, True, 50),      # Holocene assembler: 50
    (ForkContext(OP_MAINNET, HOLOCENE), 51, False, 50),
    (ForkContext(CUSTOM, 999), 120, True, 120),             # the config's channel_timeout before Granite
    (ForkContext(CUSTOM, 999), 121, False, 120),
    (ForkContext(CUSTOM, 1000), 51, False, 50),
]


@pytest.mark.parametrize(("ctx", "gap", "derived", "timeout"), FORK_CASES)
def test_fork_picks_channel_timeout(ctx, gap, derived, timeout):
    """A batcher that posts a channel's closing frame after its timeout gets nothing derived,
    as op-node derives nothing from it; one block earlier the channel is read."""
    payloads = split_channel(10, 12)
    out = derive_batches(payloads, ctx, l1_blocks=[1000, 1000 + gap])
    assert out.channel_timeout == timeout == ctx.channel_timeout
    assert [k.batch.timestamp for k in out.batches] == ([10, 12] if derived else [])
    timeouts = [s for s in out.skipped if TIMED_OUT in s.reason]
    assert len(timeouts) == (0 if derived else 1)
    if not derived:
        assert f"timeout {timeout} blocks, dropped at L1 block {1000 + timeout + 1}" in timeouts[0].reason


def test_unknown_l1_blocks_behave_as_before():
    payloads = split_channel(10, 12)
    out = derive_batches(payloads, ForkContext(OP_MAINNET, HOLOCENE))
    assert out.channel_timeout is None and len(out.batches) == 2
    doc = decode_json(payloads[0], "batcher-tx", {"rollup_config": OP_MAINNET, "l1_timestamp": HOLOCENE})
    assert doc["channel_timeout"]["applied"] is False and "not known" in doc["channel_timeout"]["reason"]
    doc = decode_json(payloads[0], "batcher-tx", {"l1_block": 7})
    assert doc["channel_timeout"] == {"applied": True, "l1_blocks": 50}


def test_unparsable_transaction_still_traverses_its_block():
    """A batcher transaction op-node skips whole still advances L1: its block times the channel out."""
    first, last = split_channel(10, 12)
    out = derive_batches([first, b"\x00\x01", last], ForkContext(OP_MAINNET, HOLOCENE), l1_blocks=[0, 51, 51])
    assert out.batches == () and [s.stage for s in out.skipped][:1] == ["batcher-tx"]
    assert any(TIMED_OUT in s.reason for s in out.skipped)


def test_decode_blocks_takes_l1_blocks():
    """FORMAT.decode_blocks (config l1_blocks) derives what op-node derives from the same L1 blocks."""
    cfg = {"rollup_config": OP_MAINNET, "l1_timestamp": HOLOCENE, "genesis_timestamp": 0, "block_time": 2,
           "batch_type": "singular", "compression": "zlib", "max_tx_bytes": 80}
    blocks = [RollupBlock(n, 2000 * n, 5, b"\x03" * 32, (bytes((n * 7 + i * 13) % 256 for i in range(60)),))
              for n in range(1, 4)]
    payloads = FORMAT.encode_blocks(blocks, cfg)
    assert len(payloads) > 2
    assert len(FORMAT.decode_blocks(payloads, cfg)) == 3
    assert len(FORMAT.decode_blocks(payloads, {**cfg, "l1_blocks": [9] * len(payloads)})) == 3
    late = [9] * (len(payloads) - 1) + [60]
    assert FORMAT.decode_blocks(payloads, {**cfg, "l1_blocks": late}) == []


@pytest.mark.parametrize(("blocks", "message"), [
    ([5, 4], "comes after block 5"),
    ([5, None], "no L1 block"),
    ([5], "1 L1 blocks for 2"),
    ([5, True], "not a uint64"),
    ([5, -1], "not a uint64"),
])
def test_bad_l1_blocks_are_refused(blocks, message):
    with pytest.raises(BadInput, match=message):
        check_l1_blocks(blocks, 2)
    with pytest.raises(BadInput, match=message):
        derive_batches(split_channel(1), DEFAULT_CONTEXT, l1_blocks=blocks)


# --- CLI -----------------------------------------------------------------------------------------


def write_list(tmp_path, entries) -> str:
    path = tmp_path / "txs.json"
    path.write_text(json.dumps(entries))
    return str(path)


def test_cli_list_with_l1_blocks_times_channels_out(tmp_path, capsys):
    first, last = split_channel(10, 12)
    entries = [{"l1_block": 100, "data": "0x" + first.hex()}, {"l1_block": 151, "data": "0x" + last.hex()}]
    args = ["batch", "decode", "--format", "opstack", "--rollup-config", "op-mainnet", "--l1-timestamp", str(GRANITE)]
    assert main([*args, write_list(tmp_path, entries)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["batches"] == [] and doc["fork"] == "granite"
    assert doc["channel_timeout"] == {"applied": True, "l1_blocks": 50}
    assert [t["l1_block"] for t in doc["batcher_txs"]] == [100, 151]
    assert any(s["reason"].startswith(TIMED_OUT) for s in doc["skipped"])
    entries[1]["l1_block"] = 150
    assert main([*args, write_list(tmp_path, entries)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [b["timestamp"] for b in doc["batches"]] == [10, 12]
    assert doc["batches"][0]["channel_id"] == "0x" + "42" * 16


def test_cli_list_without_l1_blocks_says_no_timeout(tmp_path, capsys):
    first, last = split_channel(10, 12)
    assert main(["batch", "decode", "--format", "opstack",
                 write_list(tmp_path, [{"data": "0x" + first.hex()}, {"l1_block": None, "data": last.hex()}])]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [b["timestamp"] for b in doc["batches"]] == [10, 12]
    assert doc["channel_timeout"]["applied"] is False


def test_cli_l1_block_for_a_single_input(tmp_path, capsys):
    path = tmp_path / "tx.hex"
    path.write_text(split_channel(10)[0].hex())
    assert main(["batch", "decode", "--format", "opstack", "--l1-block", "77", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["channel_timeout"] == {"applied": True, "l1_blocks": 50}


@pytest.mark.parametrize(("entries", "extra", "message"), [
    ([{"l1_block": 5, "data": "0x00"}, {"l1_block": 4, "data": "0x00"}], [], "comes after block 5"),
    ([{"l1_block": 5, "data": "0x00"}, {"data": "0x00"}], [], "no L1 block"),
    ([{"l1_block": "5", "data": "0x00"}], [], "not a uint64"),
    ([{"l1_block": 5, "data": "0xzz"}], [], "not hex"),
    ([{"l1_block": 5, "data": "0x00", "block": 1}], [], "unknown keys block"),
    (["0x00"], [], "entry 0"),
    ([{"l1_block": 5, "data": "0x00"}], ["--l1-block", "3"], "single input"),
    ([{"l1_block": 5, "data": "0x00"}], ["--layer", "frame"], "batcher-tx or blob layer"),
])
def test_cli_bad_lists_are_refused(tmp_path, capsys, entries, extra, message):
    assert main(["batch", "decode", "--format", "opstack", *extra, write_list(tmp_path, entries)]) == 1
    assert message in capsys.readouterr().err


def test_cli_l1_block_is_opstack_only(tmp_path, capsys):
    path = tmp_path / "b.hex"
    path.write_text("0b")
    assert main(["batch", "decode", "--format", "cdk", "--l1-block", "3", str(path)]) == 1
    assert "apply to opstack only" in capsys.readouterr().err


# --- fuzz ----------------------------------------------------------------------------------------

CONTEXTS = [ForkContext(OP_MAINNET, CANYON - 1), ForkContext(OP_MAINNET, FJORD), ForkContext(OP_MAINNET, GRANITE),
            ForkContext(OP_MAINNET, HOLOCENE)]

frames_st = st.tuples(st.integers(0, 2), st.integers(0, 3), st.booleans())
txs_st = st.lists(st.lists(frames_st, max_size=4), max_size=6)


def shape(assembly: Assembly) -> tuple:
    return assembly.ready, assembly.incomplete, [(d.channel_id, d.frame_number) for d in assembly.dropped]


@settings(max_examples=150, deadline=None)
@given(txs_st, st.lists(st.integers(0, 120), min_size=6, max_size=6), st.sampled_from(CONTEXTS))
def test_fuzz_timeouts_only_drop(shapes, gaps, ctx):
    """Any frames at any L1 blocks: assembly only reads or drops, never raises; all in one L1
    block nothing times out (the no-block result); and with each transaction more than a timeout
    after the one before, every channel read is made of one transaction's frames."""
    # Each frame's data is (its transaction, its place in it): a channel's data tells where it came from.
    txs = [[Frame(bytes([c]) * 16, n, bytes([i, j]), last) for j, (c, n, last) in enumerate(tx)]
           for i, tx in enumerate(shapes)]
    blocks = [sum(gaps[: i + 1]) for i in range(len(txs))]
    assert shape(assemble(txs, ctx, [7] * len(txs))) == shape(assemble(txs, ctx, None))
    assert all(d.reason for d in assemble(txs, ctx, blocks).dropped)
    spread = assemble(txs, ctx, [i * (ctx.channel_timeout + 1) for i in range(len(txs))])
    for ch in spread.ready:
        assert len({ch.data[k] for k in range(0, len(ch.data), 2)}) == 1, ch


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.binary(max_size=120)), max_size=5),
       st.sampled_from(["batcher-tx", "blob"]), st.sampled_from(CONTEXTS))
def test_fuzz_batcher_tx_list_only_decode_error(entries, layer, ctx):
    """Hostile transaction lists: a JSON document, or DecodeError (blocks sorted, so never BadInput)."""
    entries = sorted(entries, key=lambda e: e[0])
    try:
        doc = decode_batcher_txs_json(entries, layer, {"rollup_config": ctx.config, "l1_timestamp": ctx.l1_time})
    except DecodeError:
        return
    json.dumps(doc)
    assert doc["channel_timeout"]["applied"] is (len(entries) > 0)
