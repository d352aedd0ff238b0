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
def test_encode_and_decode_match_pyrlp(item) -> None:  # noqa: ANN001
    encoded = rlp.encode(item)
    assert rlp_codec.encode(item) == encoded
    assert rlp_codec.decode(encoded) == rlp.decode(encoded)


@given(items, st.integers(min_value=0), st.integers(min_value=0, max_value=255))
@settings(max_examples=500, deadline=None)
def test_mutations_are_refused_exactly_when_pyrlp_refuses(item, where: int, byte: int) -> None:  # noqa: ANN001
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
