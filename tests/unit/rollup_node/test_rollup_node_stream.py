"""rollup_node/stream.py: the soft node's check of each streamed block, as a pure function
(docs/architecture.md section 4.5). Every test plays a hostile sequencer that signs with the real key
(or a foreign one) and shows the follower something other than the truth; each must be refused with a
VerificationError naming the check, and nothing refused may move the stream position."""

from __future__ import annotations

import ast
from dataclasses import replace

import pytest
from repo_root import ROOT

from rollup_node.errors import VerificationError
from rollup_node.stream import StreamPosition, VerifiedStreamBlock, verify_stream_block
from sequencer.core.commitments import bundles_root, namespaces_root, prove_namespace
from sequencer.core.signing import Domain, Signer, block_hash
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace, SharedBlock
from sequencer.service.convert import rollup_block_to_proto
from sharedseq.v1 import sequencer_pb2 as pb

RID = 901
DOMAIN = Domain(31337, b"\xab" * 20)
SIGNER = Signer(b"\x01" * 32, DOMAIN)
START = StreamPosition()


def make_block(height: int, parent: bytes, txs: dict[int, tuple[bytes, ...]], signer: Signer = SIGNER,
               header: BlockHeader | None = None) -> SharedBlock:
    namespaces = tuple(Namespace(r, t) for r, t in sorted(txs.items()) if t)
    if header is None:
        header = BlockHeader(height, parent, 1_764_000_000_000 + 100 * height, 7, b"\x07" * 32,
                             namespaces_root(namespaces), len(namespaces), bundles_root(()))
    return SharedBlock(header, signer.sign_header(header), namespaces)


def view(b: SharedBlock, rollup_id: int = RID) -> pb.RollupBlock:
    """What an honest sequencer streams to `rollup_id` for block `b`."""
    return rollup_block_to_proto(b, rollup_id, prove_namespace(b.namespaces, rollup_id))


def check(msg: pb.RollupBlock, position: StreamPosition = START,
          sequencer: bytes | None = SIGNER.address) -> VerifiedStreamBlock:
    return verify_stream_block(msg, RID, DOMAIN, position, sequencer)


def test_an_honest_chain_is_accepted_block_by_block_and_the_position_follows_it() -> None:
    b0 = make_block(0, ZERO_HASH, {RID: (b"a", b"b"), 902: (b"c",)})
    v0 = check(view(b0))
    assert v0.signer == SIGNER.address
    assert v0.block.header == b0.header and v0.block.signature == b0.signature
    # only this rollup's namespace survives: the other rollups' data is never handed on
    assert v0.block.namespaces == (Namespace(RID, (b"a", b"b")),)
    assert v0.next_position == StreamPosition(1, block_hash(b0.header))
    # a block without data for 901 is proven absent by its neighbours and yields no namespace
    b1 = make_block(1, block_hash(b0.header), {902: (b"d",), 903: (b"e",)})
    v1 = check(view(b1), v0.next_position)
    assert v1.block.namespaces == () and v1.next_position == StreamPosition(2, block_hash(b1.header))
    # and an empty block (no namespace at all) too
    b2 = make_block(2, block_hash(b1.header), {})
    assert check(view(b2), v1.next_position).next_position.next_height == 3


def test_without_a_sequencer_address_any_valid_signature_passes_and_its_signer_is_returned() -> None:
    """With an L1, the key's standing is checked against SequencerKeys by the caller (soft.py
    check_key): the pure check must return the signer it recovered, not a fixed one."""
    other = Signer(b"\x02" * 32, DOMAIN)
    v = check(view(make_block(0, ZERO_HASH, {RID: (b"a",)}, signer=other)), sequencer=None)
    assert v.signer == other.address != SIGNER.address


@pytest.mark.parametrize("height, parent, match", [
    (1, ZERO_HASH, "expected height 0, sequencer sent 1"),  # skips block 0
    (0, b"\x11" * 32, "parent hash 0x1111"),  # forks off another chain
])
def test_the_first_block_must_be_height_zero_on_the_zero_hash(height: int, parent: bytes, match: str) -> None:
    with pytest.raises(VerificationError, match=match):
        check(view(make_block(height, parent, {RID: (b"a",)})))


def test_a_gap_a_replay_and_a_fork_are_refused() -> None:
    b0 = make_block(0, ZERO_HASH, {RID: (b"a",)})
    at1 = check(view(b0)).next_position
    b1 = make_block(1, block_hash(b0.header), {RID: (b"b",)})
    with pytest.raises(VerificationError, match="expected height 1, sequencer sent 0"):
        check(view(b0), at1)  # the same block again: it would be executed twice
    with pytest.raises(VerificationError, match="expected height 1, sequencer sent 2"):
        check(view(make_block(2, block_hash(b1.header), {RID: (b"c",)})), at1)  # block 1 withheld
    twin = make_block(1, block_hash(make_block(0, ZERO_HASH, {RID: (b"x",)}).header), {RID: (b"b",)})
    with pytest.raises(VerificationError, match="block 1: parent hash"):
        check(view(twin), at1)  # a validly signed block 1 of another history
    assert check(view(b1), at1).next_position.next_height == 2


def test_a_foreign_key_is_refused_when_the_sequencer_is_known() -> None:
    b0 = make_block(0, ZERO_HASH, {RID: (b"a",)}, signer=Signer(b"\x02" * 32, DOMAIN))
    sequencer = SIGNER.address.hex()
    with pytest.raises(VerificationError, match=f"signed by 0x[0-9a-f]{{40}}, not the sequencer 0x{sequencer}"):
        check(view(b0))


def test_a_signature_for_another_domain_does_not_recover_to_the_sequencer() -> None:
    """The same key signing for another inbox (or L1 chain) must not pass as a signature for this one:
    EIP-712's domain is in the digest, so the signature recovers to some other address."""
    other_inbox = Signer(b"\x01" * 32, Domain(31337, b"\xcd" * 20))
    with pytest.raises(VerificationError, match="not the sequencer"):
        check(view(make_block(0, ZERO_HASH, {RID: (b"a",)}, signer=other_inbox)))
    other_chain = Signer(b"\x01" * 32, Domain(1, DOMAIN.verifying_contract))
    with pytest.raises(VerificationError, match="not the sequencer"):
        check(view(make_block(0, ZERO_HASH, {RID: (b"a",)}, signer=other_chain)))


@pytest.mark.parametrize("mangle, reason", [
    (lambda s: s[:64], "65 bytes"),
    (lambda s: s + b"\x00", "65 bytes"),
    (lambda s: s[:64] + b"\x01", "v must be 27 or 28"),
    (lambda s: bytes(32) + s[32:], "r must be"),
    (lambda s: s[:32] + bytes(32) + s[64:], "s must be"),
    (lambda s: b"", "65 bytes"),
], ids=["short", "long", "bad-v", "zero-r", "zero-s", "missing"])
def test_a_malformed_signature_is_a_verification_error_naming_why(mangle, reason: str) -> None:
    msg = view(make_block(0, ZERO_HASH, {RID: (b"a",)}))
    msg.signed_header.signature = mangle(bytes(msg.signed_header.signature))
    with pytest.raises(VerificationError, match=f"block 0: bad signature .*{reason}"):
        check(msg, sequencer=None)


def test_a_header_changed_after_signing_is_refused() -> None:
    """The hash checked is the header's own, so a field edited under the signature (here the
    timestamp, which decides the rollup block) recovers to another key."""
    msg = view(make_block(0, ZERO_HASH, {RID: (b"a",)}))
    msg.signed_header.header.timestamp_ms += 1000
    with pytest.raises(VerificationError, match="not the sequencer"):
        check(msg)


def test_another_rollups_namespace_is_refused() -> None:
    b0 = make_block(0, ZERO_HASH, {RID: (b"a",), 902: (b"b",)})
    with pytest.raises(VerificationError, match="namespace of rollup 902, not 901"):
        check(view(b0, 902))  # 902's valid view handed to 901
    msg = view(b0)
    msg.rollup_id = 902  # the envelope says 902, the proof 901
    with pytest.raises(VerificationError, match="not 901"):
        check(msg)


@pytest.mark.parametrize("edit", ["withhold", "add", "reorder", "replace"])
def test_the_transactions_must_be_exactly_the_signed_ones(edit: str) -> None:
    b0 = make_block(0, ZERO_HASH, {RID: (b"a", b"b", b"c"), 902: (b"d",)})
    msg = view(b0)
    txs = list(msg.transactions)
    if edit == "withhold":
        del txs[1]
    elif edit == "add":
        txs.append(b"injected")
    elif edit == "reorder":
        txs[0], txs[2] = txs[2], txs[0]
    else:
        txs[1] = b"B"
    del msg.transactions[:]
    msg.transactions.extend(txs)
    with pytest.raises(VerificationError, match="block 0: namespace proof does not verify against the header"):
        check(msg)


def test_a_false_absence_is_refused() -> None:
    """A block that has 901 data, shown to 901 as "nothing for you" with the proof of a rollup that
    really is absent (905): the bracket is not around 901's id."""
    b0 = make_block(0, ZERO_HASH, {RID: (b"a",), 902: (b"c",)})
    msg = rollup_block_to_proto(b0, RID, prove_namespace(b0.namespaces, 905))
    msg.proof.rollup_id = RID
    del msg.transactions[:]
    with pytest.raises(VerificationError, match="namespace proof"):
        check(msg)


def test_a_header_whose_namespace_count_lies_is_refused() -> None:
    """The leaf count in the header is part of every path check: a header claiming one more namespace
    than the tree has (to hide a rollup at the end) fails, even though it is validly signed."""
    b0 = make_block(0, ZERO_HASH, {RID: (b"a",), 902: (b"c",)})
    lying = replace(b0.header, namespace_count=3)
    b = make_block(0, ZERO_HASH, {}, header=lying)
    b = SharedBlock(b.header, b.signature, b0.namespaces)
    with pytest.raises(VerificationError, match="namespace proof"):
        check(view(b))


def test_the_stream_check_is_pure() -> None:
    """No network, async or clock module imported by the verifier or by the two project modules it
    builds on (so the unit layer runs it with no sequencer, and any follower can call the same rule)."""
    forbidden = {"grpc", "asyncio", "anyio", "trio", "aiohttp", "socket", "sqlite3", "web3", "time", "threading"}
    seen: dict[str, set[str]] = {}
    todo = ["rollup_node/stream.py", "rollup_node/errors.py", "sequencer/service/convert.py"]
    for rel in todo:
        tree = ast.parse((ROOT / rel).read_text())
        mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        seen[rel] = {m for m in mods if m.split(".")[0] in forbidden}
    assert seen == {rel: set() for rel in todo}
