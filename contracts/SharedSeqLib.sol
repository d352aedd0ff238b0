// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title SharedSeqLib
/// @notice The sequencer's commitments, rebuilt byte for byte on-chain.
/// @dev Mirrors sequencer/core/signing.py (EIP-712 domain, BlockHeader and Preconfirmation
///      structs), sequencer/core/merkle.py (RFC 9162 keccak Merkle tree) and
///      sequencer/core/commitments.py (namespace leaf layout). Change both sides together.
library SharedSeqLib {
    /// @notice The signed part of a shared block (EIP-712 struct `BlockHeader`).
    struct BlockHeader {
        uint64 height;
        bytes32 parentHash;
        uint64 timestamp; // slot start, Unix milliseconds
        uint64 l1OriginNumber;
        bytes32 l1OriginHash;
        bytes32 namespacesRoot;
        uint32 namespaceCount;
        bytes32 bundlesRoot;
    }

    /// @notice A signed preconfirmation (EIP-712 struct `Preconfirmation`).
    struct Receipt {
        uint64 rollupId;
        bytes32 txHash;
        uint64 height;
        uint32 index;
    }

    /// @notice A posting window the sequencer signs (EIP-712 struct `Window`): consecutive shared blocks
    ///         firstHeight..lastHeight, whose block hashes (in height order) are the leaves of the RFC 9162
    ///         tree `blocksRoot`; `parentHash` is the first block's parent (the previous window's
    ///         lastBlockHash, zero for height 0); `lastBlockHash` is leaf lastHeight - firstHeight.
    ///         Timestamps are the first and last headers' (Unix ms); the L1 origin is the last header's
    ///         (origins never decrease along the chain). `rollupsHash` = keccak256(abi.encode(uint64[]
    ///         rollupIds, bytes32[] batchHashes, uint64[] forcedTo)) of the posting; `witnessHash` =
    ///         keccak256(witness), the posting's header witness (sequencer/core/window.py).
    struct Window {
        uint64 firstHeight;
        uint64 lastHeight;
        bytes32 parentHash;
        bytes32 lastBlockHash;
        bytes32 blocksRoot;
        uint64 firstTimestamp;
        uint64 lastTimestamp;
        uint64 l1OriginNumber;
        bytes32 l1OriginHash;
        bytes32 rollupsHash;
        bytes32 witnessHash;
    }

    /// @notice One group commit's receipts (EIP-712 struct `PreconfirmationBatch`): the RFC 9162 root over
    ///         `count` leaves, leaf i = hashStruct(Preconfirmation) of receipt i (32 bytes). One signature
    ///         per batch; each receipt carries its leaf index and audit path.
    struct ReceiptBatch {
        bytes32 receiptsRoot;
        uint32 count;
    }

    /// @notice One namespace leaf `(rollupId, txRoot, txCount)` with its position and audit path.
    struct NamespaceLeaf {
        uint256 index;
        uint64 rollupId;
        bytes32 txRoot;
        uint64 txCount;
        bytes32[] path;
    }

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant NAME_HASH = keccak256("sharedseq");
    bytes32 internal constant VERSION_HASH = keccak256("1");
    bytes32 internal constant HEADER_TYPEHASH = keccak256(
        "BlockHeader(uint64 height,bytes32 parentHash,uint64 timestamp,uint64 l1OriginNumber,"
        "bytes32 l1OriginHash,bytes32 namespacesRoot,uint32 namespaceCount,bytes32 bundlesRoot)"
    );
    bytes32 internal constant RECEIPT_TYPEHASH =
        keccak256("Preconfirmation(uint64 rollupId,bytes32 txHash,uint64 height,uint32 index)");
    bytes32 internal constant WINDOW_TYPEHASH = keccak256(
        "Window(uint64 firstHeight,uint64 lastHeight,bytes32 parentHash,bytes32 lastBlockHash,bytes32 blocksRoot,"
        "uint64 firstTimestamp,uint64 lastTimestamp,uint64 l1OriginNumber,bytes32 l1OriginHash,bytes32 rollupsHash,"
        "bytes32 witnessHash)"
    );
    bytes32 internal constant RECEIPT_BATCH_TYPEHASH =
        keccak256("PreconfirmationBatch(bytes32 receiptsRoot,uint32 count)");

    /// @dev secp256k1n / 2: signatures with a larger s are malleable copies (EIP-2).
    uint256 internal constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice EIP-712 domain separator for the inbox at `verifyingContract` on `chainId`.
    function domainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chainId, verifyingContract));
    }

    /// @notice hashStruct(BlockHeader): the block hash (domain-free).
    function hashHeader(BlockHeader memory h) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                HEADER_TYPEHASH,
                h.height,
                h.parentHash,
                h.timestamp,
                h.l1OriginNumber,
                h.l1OriginHash,
                h.namespacesRoot,
                h.namespaceCount,
                h.bundlesRoot
            )
        );
    }

    /// @notice hashStruct(Preconfirmation).
    function hashReceipt(Receipt memory r) internal pure returns (bytes32) {
        return keccak256(abi.encode(RECEIPT_TYPEHASH, r.rollupId, r.txHash, r.height, r.index));
    }

    /// @notice hashStruct(Window).
    function hashWindow(Window memory w) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                WINDOW_TYPEHASH,
                w.firstHeight,
                w.lastHeight,
                w.parentHash,
                w.lastBlockHash,
                w.blocksRoot,
                w.firstTimestamp,
                w.lastTimestamp,
                w.l1OriginNumber,
                w.l1OriginHash,
                w.rollupsHash,
                w.witnessHash
            )
        );
    }

    /// @notice hashStruct(PreconfirmationBatch).
    function hashReceiptBatch(ReceiptBatch memory b) internal pure returns (bytes32) {
        return keccak256(abi.encode(RECEIPT_BATCH_TYPEHASH, b.receiptsRoot, b.count));
    }

    /// @notice Window.rollupsHash of a posting.
    function rollupsHash(uint64[] memory rollupIds, bytes32[] memory batchHashes, uint64[] memory forcedTo)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(rollupIds, batchHashes, forcedTo));
    }

    /// @notice keccak256(0x1901 ++ domainSeparator ++ structHash).
    function typedDigest(bytes32 separator, bytes32 structHash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", separator, structHash));
    }

    /// @notice The signer of `digest`, or address(0) when the signature is malformed,
    ///         has v outside {27, 28}, a high s, or does not recover.
    /// @param signature 65 bytes r ++ s ++ v.
    function recover(bytes32 digest, bytes memory signature) internal pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 32))
            s := mload(add(signature, 64))
            v := byte(0, mload(add(signature, 96)))
        }
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) > HALF_N) return address(0);
        return ecrecover(digest, v, r, s);
    }

    /// @notice RFC 9162 leaf hash: keccak256(0x00 ++ data).
    function leafHash(bytes memory data) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), data));
    }

    /// @notice RFC 9162 interior node hash: keccak256(0x01 ++ left ++ right).
    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x01), left, right));
    }

    /// @notice RFC 9162 section 2.1.3.2: does `leaf` sit at `index` of a `size`-leaf tree with `root`?
    /// @dev A line-by-line port of merkle.verify_inclusion.
    function verifyInclusion(bytes memory leaf, uint256 index, uint256 size, bytes32[] memory proof, bytes32 root)
        internal
        pure
        returns (bool)
    {
        if (index >= size) return false;
        uint256 fn = index;
        uint256 sn = size - 1;
        bytes32 r = leafHash(leaf);
        for (uint256 i = 0; i < proof.length; i++) {
            if (sn == 0) return false;
            if (fn & 1 == 1 || fn == sn) {
                r = nodeHash(proof[i], r);
                if (fn & 1 == 0) {
                    while (fn != 0 && fn & 1 == 0) {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = nodeHash(r, proof[i]);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }

    /// @notice Namespace leaf bytes: uint64 rollupId ++ bytes32 txRoot ++ uint64 txCount (48 bytes).
    function namespaceLeaf(uint64 rollupId, bytes32 txRoot, uint64 txCount) internal pure returns (bytes memory) {
        return abi.encodePacked(rollupId, txRoot, txCount);
    }

    /// @notice Is `leaf` proven at its index under a header's namespaces root of `count` leaves?
    function verifyNamespaceLeaf(NamespaceLeaf memory leaf, uint256 count, bytes32 root) internal pure returns (bool) {
        return verifyInclusion(namespaceLeaf(leaf.rollupId, leaf.txRoot, leaf.txCount), leaf.index, count, leaf.path, root);
    }
}
