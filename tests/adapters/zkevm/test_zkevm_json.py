"""The operator's JSON view: decode_json / encode_json."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from test_zkevm_properties import batches, forced_batches

from rollup_adapters.zkevm import FORMAT, BatchV2, ForcedBatchV2, encode_batch_v2, encode_forced_batch
from sequencer.errors import BadInput

TESTDATA = Path(__file__).parent / "testdata"
Z1 = bytes.fromhex((TESTDATA / "z1_encode_two_empty_blocks.hex").read_text().strip())
Z2 = bytes.fromhex((TESTDATA / "z2_coded_l2_block1.hex").read_text().strip())
Z4 = bytes.fromhex((TESTDATA / "z4_forced_coded_rlp_2txs1.hex").read_text().strip())

TX_KEYS = {
    "hash",
    "nonce",
    "gas_price",
    "gas",
    "to",
    "value",
    "data",
    "chain_id",
    "v",
    "r",
    "s",
    "effective_percentage",
}


def test_batch_layer_shape_and_values() -> None:
    doc = FORMAT.decode_json(Z2, "batch")
    assert set(doc) == {"blocks"}
    (block,) = doc["blocks"]
    assert set(block) == {"delta_timestamp", "index_l1_info_tree", "txs"}
    assert (block["delta_timestamp"], block["index_l1_info_tree"]) == (0x73E6AF6F, 0)
    tx = block["txs"][0]
    assert set(tx) == TX_KEYS
    assert tx == {
        "hash": "0x2799865cc2e40485f8b93ab4d9d1544b19e1eb37e54185621e250cc191226bdd",
        "nonce": 2,
        "gas_price": 10**9,
        "gas": 100_000,
        "to": "0x4d5cf5032b2a844602278b01199ed191a86c93ff",
        "value": 10**17,
        "data": "0x",
        "chain_id": 1000,
        "v": 27,
        "r": "0xbff0e780ba7db409339fd3f71969fa2cbf1b8535f6c725a1499d3318d3ef9c2b",
        "s": "0x6340ddfab84add2c188f9efddb99771db1fe621c981846394ea4f035c85bcdd5",
        "effective_percentage": 255,
    }
    json.dumps(doc)  # plain JSON types only


def test_default_layer_is_batch_and_forced_layer_is_block_less() -> None:
    assert FORMAT.decode_json(Z1, None) == FORMAT.decode_json(Z1, "batch")
    forced = FORMAT.decode_json(Z4, "forced-batch")
    assert set(forced) == {"txs"}
    assert forced["txs"] == FORMAT.decode_json(Z2, "batch")["blocks"][0]["txs"]


@pytest.mark.parametrize(("data", "layer"), [(Z1, "batch"), (Z2, "batch"), (Z4, "forced-batch")])
def test_vectors_round_trip_through_json(data: bytes, layer: str) -> None:
    doc = json.loads(json.dumps(FORMAT.decode_json(data, layer)))
    assert FORMAT.encode_json(doc, layer) == data


@settings(derandomize=True)
@given(batches)
def test_any_batch_round_trips_through_json(batch: BatchV2) -> None:
    data = encode_batch_v2(batch)
    assert FORMAT.encode_json(json.loads(json.dumps(FORMAT.decode_json(data, "batch"))), "batch") == data


@settings(derandomize=True)
@given(forced_batches)
def test_any_forced_batch_round_trips_through_json(batch: ForcedBatchV2) -> None:
    data = encode_forced_batch(batch, max_bytes=10**6)
    if len(data) <= 5000:
        assert FORMAT.encode_json(FORMAT.decode_json(data, "forced-batch"), "forced-batch") == data


def test_contract_creation_and_pre_eip155_are_null() -> None:
    doc = FORMAT.decode_json(Z2, "batch")
    tx = doc["blocks"][0]["txs"][0]
    tx.update(to=None, chain_id=None)
    data = FORMAT.encode_json(doc, "batch")
    again = FORMAT.decode_json(data, "batch")["blocks"][0]["txs"][0]
    assert (again["to"], again["chain_id"]) == (None, None)


def edited(path: tuple, value: object) -> dict:
    doc = copy.deepcopy(FORMAT.decode_json(Z2, "batch"))
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("blocks",), None, "blocks: expected a list"),
        (("blocks", 0, "delta_timestamp"), 2**32, "blocks[0].delta_timestamp: expected an integer"),
        (("blocks", 0, "txs", 1, "nonce"), KeyError, "blocks[0].txs[1].nonce: missing"),
        (("blocks", 0, "txs", 0, "gas"), True, "blocks[0].txs[0].gas: expected an integer"),
        (("blocks", 0, "txs", 0, "to"), "0x1234", "blocks[0].txs[0].to: 2 bytes, expected 20"),
        (("blocks", 0, "txs", 0, "data"), "abcd", "blocks[0].txs[0].data: expected a 0x-prefixed"),
        (("blocks", 0, "txs", 0, "r"), "0xzz", "blocks[0].txs[0].r: not valid hex"),
        (("blocks", 0, "txs", 0, "v"), 37, "blocks[0].txs[0].v: 37, expected 27 or 28"),
        (("blocks", 0, "txs", 0, "effective_percentage"), 256, "blocks[0].txs[0].effective_percentage"),
    ],
)
def test_encode_json_errors_name_the_path(path: tuple, value: object, message: str) -> None:
    with pytest.raises(BadInput) as info:
        FORMAT.encode_json(edited(path, value), "batch")
    assert str(info.value).startswith(message)


def test_unknown_layer() -> None:
    with pytest.raises(BadInput, match="zkevm layers: batch, forced-batch"):
        FORMAT.decode_json(Z1, "frames")
