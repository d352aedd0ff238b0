from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransactionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_STATUS_UNSPECIFIED: _ClassVar[TransactionStatus]
    TRANSACTION_STATUS_PRECONFIRMED: _ClassVar[TransactionStatus]
    TRANSACTION_STATUS_SEALED: _ClassVar[TransactionStatus]
    TRANSACTION_STATUS_FIRM: _ClassVar[TransactionStatus]
TRANSACTION_STATUS_UNSPECIFIED: TransactionStatus
TRANSACTION_STATUS_PRECONFIRMED: TransactionStatus
TRANSACTION_STATUS_SEALED: TransactionStatus
TRANSACTION_STATUS_FIRM: TransactionStatus

class Transaction(_message.Message):
    __slots__ = ("rollup_id", "payload")
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    rollup_id: int
    payload: bytes
    def __init__(self, rollup_id: _Optional[int] = ..., payload: _Optional[bytes] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("rollup_id", "tx_hash", "height", "index", "leaf_index", "batch_count", "path", "batch_signature")
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    BATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    rollup_id: int
    tx_hash: bytes
    height: int
    index: int
    leaf_index: int
    batch_count: int
    path: _containers.RepeatedScalarFieldContainer[bytes]
    batch_signature: bytes
    def __init__(self, rollup_id: _Optional[int] = ..., tx_hash: _Optional[bytes] = ..., height: _Optional[int] = ..., index: _Optional[int] = ..., leaf_index: _Optional[int] = ..., batch_count: _Optional[int] = ..., path: _Optional[_Iterable[bytes]] = ..., batch_signature: _Optional[bytes] = ...) -> None: ...

class BlockHeader(_message.Message):
    __slots__ = ("height", "parent_hash", "timestamp_ms", "l1_origin_number", "l1_origin_hash", "namespaces_root", "namespace_count", "bundles_root")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PARENT_HASH_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    L1_ORIGIN_NUMBER_FIELD_NUMBER: _ClassVar[int]
    L1_ORIGIN_HASH_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_ROOT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    BUNDLES_ROOT_FIELD_NUMBER: _ClassVar[int]
    height: int
    parent_hash: bytes
    timestamp_ms: int
    l1_origin_number: int
    l1_origin_hash: bytes
    namespaces_root: bytes
    namespace_count: int
    bundles_root: bytes
    def __init__(self, height: _Optional[int] = ..., parent_hash: _Optional[bytes] = ..., timestamp_ms: _Optional[int] = ..., l1_origin_number: _Optional[int] = ..., l1_origin_hash: _Optional[bytes] = ..., namespaces_root: _Optional[bytes] = ..., namespace_count: _Optional[int] = ..., bundles_root: _Optional[bytes] = ...) -> None: ...

class SignedHeader(_message.Message):
    __slots__ = ("header", "signature", "block_hash")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    header: BlockHeader
    signature: bytes
    block_hash: bytes
    def __init__(self, header: _Optional[_Union[BlockHeader, _Mapping]] = ..., signature: _Optional[bytes] = ..., block_hash: _Optional[bytes] = ...) -> None: ...

class Namespace(_message.Message):
    __slots__ = ("rollup_id", "transactions")
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    rollup_id: int
    transactions: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, rollup_id: _Optional[int] = ..., transactions: _Optional[_Iterable[bytes]] = ...) -> None: ...

class BundlePlacement(_message.Message):
    __slots__ = ("bundle_hash", "legs")
    BUNDLE_HASH_FIELD_NUMBER: _ClassVar[int]
    LEGS_FIELD_NUMBER: _ClassVar[int]
    bundle_hash: bytes
    legs: _containers.RepeatedCompositeFieldContainer[LegPosition]
    def __init__(self, bundle_hash: _Optional[bytes] = ..., legs: _Optional[_Iterable[_Union[LegPosition, _Mapping]]] = ...) -> None: ...

class LegPosition(_message.Message):
    __slots__ = ("rollup_id", "index")
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    rollup_id: int
    index: int
    def __init__(self, rollup_id: _Optional[int] = ..., index: _Optional[int] = ...) -> None: ...

class Block(_message.Message):
    __slots__ = ("signed_header", "namespaces", "bundles")
    SIGNED_HEADER_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    signed_header: SignedHeader
    namespaces: _containers.RepeatedCompositeFieldContainer[Namespace]
    bundles: _containers.RepeatedCompositeFieldContainer[BundlePlacement]
    def __init__(self, signed_header: _Optional[_Union[SignedHeader, _Mapping]] = ..., namespaces: _Optional[_Iterable[_Union[Namespace, _Mapping]]] = ..., bundles: _Optional[_Iterable[_Union[BundlePlacement, _Mapping]]] = ...) -> None: ...

class NamespaceLeafProof(_message.Message):
    __slots__ = ("leaf_index", "rollup_id", "tx_root", "tx_count", "path")
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    TX_ROOT_FIELD_NUMBER: _ClassVar[int]
    TX_COUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    leaf_index: int
    rollup_id: int
    tx_root: bytes
    tx_count: int
    path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, leaf_index: _Optional[int] = ..., rollup_id: _Optional[int] = ..., tx_root: _Optional[bytes] = ..., tx_count: _Optional[int] = ..., path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class NamespaceProof(_message.Message):
    __slots__ = ("rollup_id", "namespace_count", "leaf", "neighbours", "adjacent")
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    NEIGHBOURS_FIELD_NUMBER: _ClassVar[int]
    ADJACENT_FIELD_NUMBER: _ClassVar[int]
    rollup_id: int
    namespace_count: int
    leaf: NamespaceLeafProof
    neighbours: _containers.RepeatedCompositeFieldContainer[NamespaceLeafProof]
    adjacent: _containers.RepeatedCompositeFieldContainer[NamespaceLeafProof]
    def __init__(self, rollup_id: _Optional[int] = ..., namespace_count: _Optional[int] = ..., leaf: _Optional[_Union[NamespaceLeafProof, _Mapping]] = ..., neighbours: _Optional[_Iterable[_Union[NamespaceLeafProof, _Mapping]]] = ..., adjacent: _Optional[_Iterable[_Union[NamespaceLeafProof, _Mapping]]] = ...) -> None: ...

class BundleProof(_message.Message):
    __slots__ = ("leaf_index", "bundle_count", "path")
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    leaf_index: int
    bundle_count: int
    path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, leaf_index: _Optional[int] = ..., bundle_count: _Optional[int] = ..., path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RollupBlock(_message.Message):
    __slots__ = ("signed_header", "rollup_id", "transactions", "proof", "bundles", "bundle_proofs")
    SIGNED_HEADER_FIELD_NUMBER: _ClassVar[int]
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_PROOFS_FIELD_NUMBER: _ClassVar[int]
    signed_header: SignedHeader
    rollup_id: int
    transactions: _containers.RepeatedScalarFieldContainer[bytes]
    proof: NamespaceProof
    bundles: _containers.RepeatedCompositeFieldContainer[BundlePlacement]
    bundle_proofs: _containers.RepeatedCompositeFieldContainer[BundleProof]
    def __init__(self, signed_header: _Optional[_Union[SignedHeader, _Mapping]] = ..., rollup_id: _Optional[int] = ..., transactions: _Optional[_Iterable[bytes]] = ..., proof: _Optional[_Union[NamespaceProof, _Mapping]] = ..., bundles: _Optional[_Iterable[_Union[BundlePlacement, _Mapping]]] = ..., bundle_proofs: _Optional[_Iterable[_Union[BundleProof, _Mapping]]] = ...) -> None: ...

class Bundle(_message.Message):
    __slots__ = ("legs",)
    LEGS_FIELD_NUMBER: _ClassVar[int]
    legs: _containers.RepeatedCompositeFieldContainer[Transaction]
    def __init__(self, legs: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ...) -> None: ...

class SubmitTransactionRequest(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: Transaction
    def __init__(self, transaction: _Optional[_Union[Transaction, _Mapping]] = ...) -> None: ...

class SubmitTransactionResponse(_message.Message):
    __slots__ = ("receipt", "already_admitted")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ADMITTED_FIELD_NUMBER: _ClassVar[int]
    receipt: Receipt
    already_admitted: bool
    def __init__(self, receipt: _Optional[_Union[Receipt, _Mapping]] = ..., already_admitted: _Optional[bool] = ...) -> None: ...

class SubmitBundleRequest(_message.Message):
    __slots__ = ("bundle",)
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    bundle: Bundle
    def __init__(self, bundle: _Optional[_Union[Bundle, _Mapping]] = ...) -> None: ...

class SubmitBundleResponse(_message.Message):
    __slots__ = ("receipts", "bundle_hash", "already_admitted")
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_HASH_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ADMITTED_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[Receipt]
    bundle_hash: bytes
    already_admitted: bool
    def __init__(self, receipts: _Optional[_Iterable[_Union[Receipt, _Mapping]]] = ..., bundle_hash: _Optional[bytes] = ..., already_admitted: _Optional[bool] = ...) -> None: ...

class StreamSubmitRequest(_message.Message):
    __slots__ = ("request_id", "transaction", "bundle", "transactions")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    transaction: Transaction
    bundle: Bundle
    transactions: TransactionList
    def __init__(self, request_id: _Optional[int] = ..., transaction: _Optional[_Union[Transaction, _Mapping]] = ..., bundle: _Optional[_Union[Bundle, _Mapping]] = ..., transactions: _Optional[_Union[TransactionList, _Mapping]] = ...) -> None: ...

class TransactionList(_message.Message):
    __slots__ = ("transactions",)
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[Transaction]
    def __init__(self, transactions: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ...) -> None: ...

class ItemResult(_message.Message):
    __slots__ = ("receipt", "error", "already_admitted")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ADMITTED_FIELD_NUMBER: _ClassVar[int]
    receipt: Receipt
    error: Error
    already_admitted: bool
    def __init__(self, receipt: _Optional[_Union[Receipt, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., already_admitted: _Optional[bool] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class StreamSubmitResponse(_message.Message):
    __slots__ = ("request_id", "receipts", "error", "results", "already_admitted")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ADMITTED_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    receipts: _containers.RepeatedCompositeFieldContainer[Receipt]
    error: Error
    results: _containers.RepeatedCompositeFieldContainer[ItemResult]
    already_admitted: bool
    def __init__(self, request_id: _Optional[int] = ..., receipts: _Optional[_Iterable[_Union[Receipt, _Mapping]]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., results: _Optional[_Iterable[_Union[ItemResult, _Mapping]]] = ..., already_admitted: _Optional[bool] = ...) -> None: ...

class SubscribeBlocksRequest(_message.Message):
    __slots__ = ("rollup_id", "from_height")
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    rollup_id: int
    from_height: int
    def __init__(self, rollup_id: _Optional[int] = ..., from_height: _Optional[int] = ...) -> None: ...

class SubscribeBlocksResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: RollupBlock
    def __init__(self, block: _Optional[_Union[RollupBlock, _Mapping]] = ...) -> None: ...

class GetBlockRequest(_message.Message):
    __slots__ = ("height",)
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    height: int
    def __init__(self, height: _Optional[int] = ...) -> None: ...

class GetBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: Block
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ...) -> None: ...

class GetRollupBlockRequest(_message.Message):
    __slots__ = ("rollup_id", "height")
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    rollup_id: int
    height: int
    def __init__(self, rollup_id: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class GetRollupBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: RollupBlock
    def __init__(self, block: _Optional[_Union[RollupBlock, _Mapping]] = ...) -> None: ...

class GetTransactionRequest(_message.Message):
    __slots__ = ("tx_hash", "rollup_id")
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    tx_hash: bytes
    rollup_id: int
    def __init__(self, tx_hash: _Optional[bytes] = ..., rollup_id: _Optional[int] = ...) -> None: ...

class GetTransactionResponse(_message.Message):
    __slots__ = ("status", "rollup_id", "height", "index", "bundle_hash", "receipt")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_HASH_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    status: TransactionStatus
    rollup_id: int
    height: int
    index: int
    bundle_hash: bytes
    receipt: Receipt
    def __init__(self, status: _Optional[_Union[TransactionStatus, str]] = ..., rollup_id: _Optional[int] = ..., height: _Optional[int] = ..., index: _Optional[int] = ..., bundle_hash: _Optional[bytes] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ...) -> None: ...

class ListRollupsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RollupInfo(_message.Message):
    __slots__ = ("rollup_id", "name", "policy", "batch_format", "block_time_ms")
    ROLLUP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    BATCH_FORMAT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    rollup_id: int
    name: str
    policy: str
    batch_format: str
    block_time_ms: int
    def __init__(self, rollup_id: _Optional[int] = ..., name: _Optional[str] = ..., policy: _Optional[str] = ..., batch_format: _Optional[str] = ..., block_time_ms: _Optional[int] = ...) -> None: ...

class ListRollupsResponse(_message.Message):
    __slots__ = ("rollups",)
    ROLLUPS_FIELD_NUMBER: _ClassVar[int]
    rollups: _containers.RepeatedCompositeFieldContainer[RollupInfo]
    def __init__(self, rollups: _Optional[_Iterable[_Union[RollupInfo, _Mapping]]] = ...) -> None: ...

class GetSequencerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSequencerInfoResponse(_message.Message):
    __slots__ = ("sequencer_address", "domain_chain_id", "domain_verifying_contract", "slot_ms", "sealed_height", "firm_height", "client_limits")
    SEQUENCER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_VERIFYING_CONTRACT_FIELD_NUMBER: _ClassVar[int]
    SLOT_MS_FIELD_NUMBER: _ClassVar[int]
    SEALED_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FIRM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    sequencer_address: bytes
    domain_chain_id: int
    domain_verifying_contract: bytes
    slot_ms: int
    sealed_height: int
    firm_height: int
    client_limits: ClientLimits
    def __init__(self, sequencer_address: _Optional[bytes] = ..., domain_chain_id: _Optional[int] = ..., domain_verifying_contract: _Optional[bytes] = ..., slot_ms: _Optional[int] = ..., sealed_height: _Optional[int] = ..., firm_height: _Optional[int] = ..., client_limits: _Optional[_Union[ClientLimits, _Mapping]] = ...) -> None: ...

class ClientLimits(_message.Message):
    __slots__ = ("keyed_by", "tx_per_s", "burst", "max_streams", "max_pending_txs", "max_pending_bytes", "bytes_per_s", "bytes_burst", "max_inflight_txs")
    KEYED_BY_FIELD_NUMBER: _ClassVar[int]
    TX_PER_S_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_TXS_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_BYTES_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_S_FIELD_NUMBER: _ClassVar[int]
    BYTES_BURST_FIELD_NUMBER: _ClassVar[int]
    MAX_INFLIGHT_TXS_FIELD_NUMBER: _ClassVar[int]
    keyed_by: str
    tx_per_s: float
    burst: float
    max_streams: int
    max_pending_txs: int
    max_pending_bytes: int
    bytes_per_s: int
    bytes_burst: int
    max_inflight_txs: int
    def __init__(self, keyed_by: _Optional[str] = ..., tx_per_s: _Optional[float] = ..., burst: _Optional[float] = ..., max_streams: _Optional[int] = ..., max_pending_txs: _Optional[int] = ..., max_pending_bytes: _Optional[int] = ..., bytes_per_s: _Optional[int] = ..., bytes_burst: _Optional[int] = ..., max_inflight_txs: _Optional[int] = ...) -> None: ...
