"""The strict RLP codec agrees with pyrlp (strict mode) on valid and mutated input."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.core import rlp_codec
from sequencer.errors import DecodeError


def _nest(depth: int) -> list:
    return [] if depth == 0 else [_nest(depth - 1)]


items = st.recursive(st.binary(max_size=70), lambda inner: st.lists(inner, max_size=5), max_leaves=20)


@given(items)
@settings(max_examples=300, deadline=None)
def test_encode_and_decode_match_pyrlp(item) -> None:
    encoded = rlp.encode(item)
    assert rlp_codec.encode(item) == encoded
    assert rlp_codec.decode(encoded) == rlp.decode(encoded)


@given(items, st.integers(min_value=0), st.integers(min_value=0, max_value=255))
@settings(max_examples=500, deadline=None)
def test_mutations_are_refused_exactly_when_pyrlp_refuses(item, where: int, byte: int) -> None:
    data = bytearray(rlp.encode(item))
    data[where % len(data)] = byte
    data = bytes(data)
    try:
        expected = rlp.decode(data, strict=True)
    except rlp.exceptions.DecodingError:
        with pytest.raises(DecodeError):
            rlp_codec.decode(data)
    else:
        assert rlp_codec.decode(data) == expected


@pytest.mark.parametrize(("hex_data", "why"), [
    ("8100", "non-canonical single byte"), ("b801" + "00", "long form"), ("b90001" + "00", "leading zero"),
    ("c3", "past the end"), ("0000", "trailing"), ("", "truncated"),
    (rlp.encode(_nest(17)).hex(), "nested"),
])
def test_refusals_name_the_problem(hex_data: str, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        rlp_codec.decode(bytes.fromhex(hex_data))


def test_ints_encode_minimally() -> None:
    assert rlp_codec.encode(0) == b"\x80"
    assert rlp_codec.encode(127) == b"\x7f"
    assert rlp_codec.encode(128) == b"\x81\x80"
    assert rlp_codec.encode(2**64) == rlp.encode(2**64)


# ---------------------------------------------------------------- reading at an offset (the API every stage uses)

KIND_CASES = [
    # (hex, kind, offset of the refused item)
    ("", "truncated", 0),
    ("8100", "single_byte", 0),
    ("b9", "truncated_length", 0),
    ("b90001" + "00", "length_leading_zero", 0),
    ("b801" + "00", "long_form", 0),
    ("f801" + "80", "long_form", 0),
    ("83aabb", "past_end", 0),
    ("c3" + "80" + "8100", "single_byte", 2),
    ("c2" + "83aabb", "past_end", 1),  # an item may not cross its list's end
    ("0000", "trailing", 1),
]


@pytest.mark.parametrize(("hex_data", "kind", "offset"), KIND_CASES)
def test_refusals_say_which_rule_and_where(hex_data: str, kind: str, offset: int) -> None:
    with pytest.raises(rlp_codec.RlpError) as err:
        rlp_codec.decode(bytes.fromhex(hex_data))
    assert (err.value.kind, err.value.offset) == (kind, offset) and kind in rlp_codec.KINDS
    assert isinstance(err.value, DecodeError)  # every refusal is the project's DecodeError


def test_long_form_and_past_end_carry_the_length() -> None:
    with pytest.raises(rlp_codec.RlpError) as err:
        rlp_codec.decode(bytes.fromhex("b837" + "00" * 10))
    assert (err.value.kind, err.value.length) == ("long_form", 55)  # 55 fits the short form
    with pytest.raises(rlp_codec.RlpError) as err:
        rlp_codec.decode(bytes.fromhex("b838" + "00" * 10))
    assert (err.value.kind, err.value.length) == ("past_end", 56)


def test_nesting_bound_is_a_parameter() -> None:
    deep = rlp.encode(_nest(16))  # 17 lists
    with pytest.raises(rlp_codec.RlpError, match="nested"):
        rlp_codec.decode(deep)
    assert rlp_codec.decode_at(deep, 0, len(deep), 0, 17) == (_nest(16), len(deep))


@given(st.binary(max_size=20), items, st.binary(max_size=20))
@settings(max_examples=300, deadline=None)
def test_decode_at_reads_an_item_inside_other_bytes(prefix: bytes, item, suffix: bytes) -> None:
    encoded = rlp_codec.encode(item)
    data = prefix + encoded + suffix
    assert rlp_codec.decode_at(data, len(prefix), len(data)) == (item, len(prefix) + len(encoded))
    is_list, start, stop = rlp_codec.header(data, len(prefix), len(data))
    assert is_list == isinstance(item, list) and stop == len(prefix) + len(encoded) and start <= stop


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=210))
@settings(max_examples=1000, deadline=None)
def test_any_bytes_decode_or_raise_rlp_error_only(data: bytes, pos: int) -> None:
    """Fuzz: junk at any offset gives an item or an RlpError, never another exception; what decodes
    re-encodes to exactly the bytes read (canonical)."""
    try:
        item, end = rlp_codec.decode_at(data, pos, len(data))
    except rlp_codec.RlpError as exc:
        assert exc.kind in rlp_codec.KINDS
    else:
        assert rlp_codec.encode(item) == data[pos:end]


@given(items)
@settings(max_examples=200, deadline=None)
def test_the_stage_readers_are_the_core_codec(item) -> None:
    """OP Stack's wire.py and Nitro's byte-string reader give what the core codec gives."""
    from rollup_adapters.nitro.rlp_bytes import decode_rlp_bytes, encode_rlp_bytes
    from rollup_adapters.opstack import wire

    encoded = rlp_codec.encode(item)
    assert wire.decode_rlp(encoded, "x") == item and wire.encode_rlp(item) == encoded
    if isinstance(item, bytes):
        assert encode_rlp_bytes(item) == encoded
        assert decode_rlp_bytes(encoded, 0, "x", len(item)) == (item, len(encoded))
