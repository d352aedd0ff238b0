"""A soft rollup node refuses a block whose signed namespace tree is not strictly sorted around what
it is shown (issue 8, item 4): a hostile sequencer that signs [(902, ..), (901, ..)], or splits
rollup 901 over two leaves, or shows 901 an "absence" next to its own leaf, gets a VerificationError,
never an executed block."""

from __future__ import annotations

import pytest

from rollup_node.errors import VerificationError
from rollup_node.node import NodeConfig, RollupNode
from rollup_node.soft import SoftFollower
from sequencer.core.commitments import NamespaceProof, namespace_leaf, namespaces_root, tx_root
from sequencer.core.merkle import inclusion_proofs
from sequencer.core.signing import Domain, Signer
from sequencer.core.types import ZERO_HASH, BlockHeader, Namespace, SharedBlock
from sequencer.service.convert import rollup_block_to_proto

RID = 901
DOMAIN = Domain(31337, b"\xab" * 20)
SIGNER = Signer(b"\x01" * 32, DOMAIN)


def follower() -> SoftFollower:
    f = SoftFollower(RollupNode(NodeConfig(rollup_id=RID, mode="soft", sequencer="127.0.0.1:1", api_port=None)))
    f.domain, f.sequencer_address = DOMAIN, SIGNER.address
    return f


def hostile_block(namespaces: tuple[Namespace, ...]) -> SharedBlock:
    """A block at height 0 whose tree is the namespaces in the given order, signed by the real key."""
    header = BlockHeader(0, ZERO_HASH, 1_764_000_000_000, 0, ZERO_HASH, namespaces_root(namespaces), len(namespaces),
                         ZERO_HASH)
    return SharedBlock(header, SIGNER.sign_header(header), namespaces)


def leaves(namespaces: tuple[Namespace, ...]) -> list:
    roots = [tx_root(ns.transactions) for ns in namespaces]
    _, paths = inclusion_proofs([namespace_leaf(ns.rollup_id, r, len(ns.transactions))
                                 for ns, r in zip(namespaces, roots, strict=True)])
    return [(i, ns.rollup_id, roots[i], len(ns.transactions), paths[i]) for i, ns in enumerate(namespaces)]


def views(namespaces: tuple[Namespace, ...]):
    """Every view of rollup 901 a hostile sequencer can assemble from its signed tree's real leaves:
    each 901 leaf as its namespace, each leaf or adjacent pair as an absence, with or without the
    adjacent leaves."""
    b = hostile_block(namespaces)
    ls = leaves(namespaces)
    n = len(ls)
    for i, rid, root, count, path in ls:
        if rid == RID:
            for adj in ((), tuple(ls[j] for j in (i - 1, i + 1) if 0 <= j < n)):
                one = SharedBlock(b.header, b.signature, (namespaces[i],))
                yield rollup_block_to_proto(one, RID, NamespaceProof(RID, n, root, count, i, path, (), adj))
    for lo in range(n):
        for hi in (lo, lo + 1):
            if hi < n:
                for adj in ((), tuple(ls[j] for j in (lo - 1, hi + 1) if 0 <= j < n)):
                    empty = SharedBlock(b.header, b.signature, ())
                    yield rollup_block_to_proto(empty, RID, NamespaceProof(RID, n, ZERO_HASH, 0, -1, (),
                                                                           tuple(ls[lo:hi + 1]), adj))


@pytest.mark.parametrize("namespaces", [
    (Namespace(902, (b"x",)), Namespace(RID, (b"mine",))),  # out of order
    (Namespace(RID, (b"mine",)), Namespace(900, (b"y",))),  # the end leaf 900 "shows" 901 absent
    (Namespace(RID, (b"a",)), Namespace(RID, (b"b",))),  # 901 split over two leaves
    (Namespace(900, (b"y",)), Namespace(RID, (b"a",)), Namespace(RID, (b"b",)), Namespace(902, (b"x",))),
], ids=["out-of-order", "fake-absence", "split", "split-in-the-middle"])
def test_a_malformed_tree_is_refused_however_it_is_shown(namespaces: tuple[Namespace, ...]) -> None:
    shown = 0
    for msg in views(namespaces):
        shown += 1
        with pytest.raises(VerificationError, match="namespace proof"):
            follower().verify(msg)
    assert shown >= 4


def test_the_same_rollup_view_of_a_sorted_tree_is_accepted() -> None:
    from sequencer.core.commitments import prove_namespace

    namespaces = (Namespace(900, (b"y",)), Namespace(RID, (b"a", b"b")), Namespace(902, (b"x",)))
    b = hostile_block(namespaces)
    block, _ = follower().verify(rollup_block_to_proto(b, RID, prove_namespace(namespaces, RID)))
    assert block.namespace(RID).transactions == (b"a", b"b")
