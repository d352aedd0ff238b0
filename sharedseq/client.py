"""A Python client for the sequencer's public gRPC API (docs/api.md), verifying what it is given.

    from sharedseq.client import Client
    with Client("127.0.0.1:50051") as c:
        receipt = c.submit_transaction(901, raw_tx)        # checked: signed by the sequencer's key
        receipts = c.submit_bundle([(902, tx_a), (903, tx_b)])
        for r in c.stream_submit([(901, tx1), (901, tx2)]):
            ...
        for block in c.subscribe(901, from_height=0):      # resumes after disconnects; every block's
            ...                                            # header signature and namespace proof checked
        c.wait_transaction(receipt.tx_hash, 901, "firm")

Every answer is checked client-side against the sequencer's key and EIP-712 domain, taken from
GetSequencerInfo unless pinned with `sequencer=` / `domain=` (pin them: a hostile endpoint could
otherwise name its own key). Failures raise `VerificationError`; gRPC errors come back as
`RpcError` subclasses carrying the status code and details.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from sequencer.core.commitments import verify_namespace
from sequencer.core.signing import Domain, InvalidSignature, block_hash, recover_signer, verify_receipt
from sequencer.core.types import Receipt
from sequencer.errors import SharedSeqError, Temporary
from sequencer.service.convert import header_from_proto, proof_from_proto, receipt_from_proto
from sharedseq.v1 import sequencer_pb2 as pb
from sharedseq.v1 import sequencer_pb2_grpc as pb_grpc


class SharedSeqClientError(SharedSeqError):
    """Root of the client's errors (under the project's root, sequencer/errors.py)."""


class VerificationError(SharedSeqClientError):
    """The sequencer's answer does not verify (bad signature, wrong key, broken proof)."""


class RpcError(SharedSeqClientError):
    """A gRPC call failed; `code` is the grpc.StatusCode, `details` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str, method: str) -> None:
        super().__init__(f"{method}: {code.name}: {details}")
        self.code = code
        self.details = details
        self.method = method


class InvalidArgument(RpcError):
    """The request was refused as malformed or invalid (INVALID_ARGUMENT): do not retry as is."""


class ResourceExhausted(RpcError, Temporary):
    """A limit was hit (RESOURCE_EXHAUSTED): back off and retry."""


class Unavailable(RpcError, Temporary):
    """The sequencer is not reachable or not serving (UNAVAILABLE): retry later."""


class NotFound(RpcError):
    """NOT_FOUND: no such block or transaction (yet)."""


class FailedPrecondition(RpcError):
    """FAILED_PRECONDITION: the request cannot be served in the current state."""


_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
}


def rpc_error(exc: grpc.RpcError, method: str) -> RpcError:
    """The typed exception for a grpc error."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return _BY_CODE.get(code, RpcError)(code, details or "", method)


@dataclass(frozen=True, slots=True)
class VerifiedBlock:
    """A rollup's namespace of one shared block, checked against the signed header."""

    height: int
    block_hash: bytes
    timestamp_ms: int
    rollup_id: int
    transactions: tuple[bytes, ...]
    message: Any
    """The pb.RollupBlock as received."""


def verify_header(domain: Domain, sequencer: bytes, signed_header: Any) -> bytes:
    """Check a pb.SignedHeader: its block hash and its signature by `sequencer`; returns the hash."""
    header = header_from_proto(signed_header.header)
    h = block_hash(header)
    if signed_header.block_hash and bytes(signed_header.block_hash) != h:
        raise VerificationError(f"block {header.height}: block_hash does not match the header")
    try:
        signer = recover_signer(domain, h, bytes(signed_header.signature))
    except InvalidSignature as exc:
        raise VerificationError(f"block {header.height}: {exc}") from None
    if signer != sequencer:
        raise VerificationError(f"block {header.height}: header signed by 0x{signer.hex()}, not the sequencer "
                                f"0x{sequencer.hex()}")
    return h


def verify_rollup_block(domain: Domain, sequencer: bytes, block: Any, rollup_id: int | None = None) -> VerifiedBlock:
    """Check a pb.RollupBlock: header signature, and that `transactions` are exactly the rollup's
    namespace under the header's namespaces_root (sequencer/core/commitments.py verify_namespace)."""
    h = verify_header(domain, sequencer, block.signed_header)
    header = header_from_proto(block.signed_header.header)
    rid = block.rollup_id if rollup_id is None else rollup_id
    payloads = [bytes(t) for t in block.transactions]
    try:
        ok = verify_namespace(proof_from_proto(block.proof), payloads, header.namespaces_root,
                              header.namespace_count, rollup_id=rid)
    except (ValueError, IndexError) as exc:
        raise VerificationError(f"block {header.height}: malformed namespace proof ({exc})") from None
    if not ok:
        raise VerificationError(f"block {header.height}: namespace proof for rollup {rid} does not verify")
    return VerifiedBlock(header.height, h, header.timestamp_ms, rid, tuple(payloads), block)


def check_receipt(domain: Domain, sequencer: bytes, msg: Any) -> Receipt:
    """A pb.Receipt, checked: signed (batch signature over its Merkle path) by `sequencer`."""
    receipt = receipt_from_proto(msg)
    try:
        signer = verify_receipt(domain, receipt)
    except InvalidSignature as exc:
        raise VerificationError(f"receipt for 0x{receipt.tx_hash.hex()}: {exc}") from None
    if signer != sequencer:
        raise VerificationError(f"receipt for 0x{receipt.tx_hash.hex()} signed by 0x{signer.hex()}, "
                                "not the sequencer")
    return receipt


class Client:
    """Synchronous client for one sequencer endpoint (see the module docstring)."""

    def __init__(self, target: str, *, sequencer: bytes | None = None, domain: Domain | None = None,
                 timeout: float = 10.0, channel: grpc.Channel | None = None) -> None:
        self.channel = channel or grpc.insecure_channel(target)
        self.stub = pb_grpc.SequencerServiceStub(self.channel)
        self.timeout = timeout
        if sequencer is None or domain is None:
            info = self.info()
            sequencer = sequencer or bytes(info.sequencer_address)
            domain = domain or Domain(int(info.domain_chain_id), bytes(info.domain_verifying_contract))
        self.sequencer = sequencer
        self.domain = domain

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: str, request: Any, **kw: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=kw.pop("timeout", self.timeout), **kw)
        except grpc.RpcError as exc:
            raise rpc_error(exc, method) from None

    def info(self) -> Any:
        return self._call("GetSequencerInfo", pb.GetSequencerInfoRequest())

    def submit_transaction(self, rollup_id: int, payload: bytes) -> Receipt:
        resp = self._call("SubmitTransaction", pb.SubmitTransactionRequest(
            transaction=pb.Transaction(rollup_id=rollup_id, payload=payload)))
        return check_receipt(self.domain, self.sequencer, resp.receipt)

    def submit_bundle(self, legs: Sequence[tuple[int, bytes]]) -> list[Receipt]:
        """Submit legs atomically (all in one shared block or none); one checked receipt per leg."""
        resp = self._call("SubmitBundle", pb.SubmitBundleRequest(bundle=pb.Bundle(
            legs=[pb.Transaction(rollup_id=r, payload=p) for r, p in legs])))
        receipts = [check_receipt(self.domain, self.sequencer, r) for r in resp.receipts]
        if len(receipts) != len(legs) or len({r.height for r in receipts}) > 1:
            raise VerificationError("bundle receipts do not put every leg in one shared block")
        return receipts

    def stream_submit(self, items: Iterable[tuple[int, bytes]]) -> Iterator[Receipt]:
        """Submit many transactions over one stream; yields each checked receipt in request order.
        A refused item raises its typed error."""
        def requests() -> Iterator[Any]:
            for i, (rid, payload) in enumerate(items):
                yield pb.StreamSubmitRequest(request_id=i, transaction=pb.Transaction(rollup_id=rid, payload=payload))
        try:
            for resp in self.stub.StreamSubmit(requests(), timeout=self.timeout * 10):
                if resp.HasField("error"):
                    code = next((c for c in grpc.StatusCode if c.value[0] == resp.error.code), grpc.StatusCode.UNKNOWN)
                    raise _BY_CODE.get(code, RpcError)(code, resp.error.message, f"StreamSubmit[{resp.request_id}]")
                for r in resp.receipts:
                    yield check_receipt(self.domain, self.sequencer, r)
        except grpc.RpcError as exc:
            raise rpc_error(exc, "StreamSubmit") from None

    def subscribe(self, rollup_id: int, from_height: int = 0, *, max_retries: int = 20,
                  backoff_s: float = 0.2) -> Iterator[VerifiedBlock]:
        """Yield rollup `rollup_id`'s verified blocks from `from_height`, in order, resuming at the next
        height after a disconnect (UNAVAILABLE, RESOURCE_EXHAUSTED, a dropped stream). Each block's
        parent hash must be the previous block's hash, so a resumed stream cannot splice another chain."""
        next_height, last_hash, failures = from_height, None, 0
        while True:
            try:
                for resp in self.stub.SubscribeBlocks(pb.SubscribeBlocksRequest(rollup_id=rollup_id,
                                                                                from_height=next_height)):
                    b = verify_rollup_block(self.domain, self.sequencer, resp.block, rollup_id)
                    if b.height != next_height:
                        raise VerificationError(f"expected block {next_height}, got {b.height}")
                    parent = bytes(resp.block.signed_header.header.parent_hash)
                    if last_hash is not None and parent != last_hash:
                        raise VerificationError(f"block {b.height}: parent hash does not link to block "
                                                f"{b.height - 1}")
                    next_height, last_hash, failures = b.height + 1, b.block_hash, 0
                    yield b
                return
            except grpc.RpcError as exc:
                err = rpc_error(exc, "SubscribeBlocks")
                if not isinstance(err, Unavailable | ResourceExhausted) or failures >= max_retries:
                    raise err from None
                failures += 1
                time.sleep(backoff_s * failures)

    def wait_transaction(self, tx_hash: bytes, rollup_id: int, until: str = "sealed", timeout: float = 60.0) -> Any:
        """Wait until a transaction is "preconfirmed", "sealed" (soft) or "firm" (its window on L1)."""
        want = {"preconfirmed": 1, "sealed": 2, "firm": 3}[until]
        deadline = time.monotonic() + timeout
        while True:
            resp = self._call("GetTransaction", pb.GetTransactionRequest(tx_hash=tx_hash, rollup_id=rollup_id))
            if int(resp.status) >= want:
                return resp
            if time.monotonic() > deadline:
                raise TimeoutError(f"tx 0x{tx_hash.hex()} not {until} within {timeout}s (status {resp.status})")
            time.sleep(0.1)
