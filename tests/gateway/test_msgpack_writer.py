"""The numba msgpack writers write what msgpack-python writes, and it decodes to the value written."""
import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kabuto.gateway.msgpackw import (
    packed_table,
    write_array_header,
    write_decimal,
    write_decimal_or_nil,
    write_nil,
    write_packed,
    write_packed_or_nil,
    write_str,
    write_uint,
    write_uint_or_nil,
)

UINT_BOUNDARIES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1]
STR_LENGTHS = [0, 1, 31, 32, 255, 256, 65535, 65536]
ARRAY_LENGTHS = [0, 15, 16, 65535, 65536]


def _written(write, *args, size=1 << 17) -> bytes:
    """What write puts at the start of a fresh buffer, checked against the end it returns."""
    out = np.full(size, 0xEE, np.uint8)
    end = write(out, 0, *args)
    assert (out[end:] == 0xEE).all(), "wrote past the end it returned"
    return bytes(out[:end])


def _decimal_text(steps: int, units: int, places: int) -> str:
    whole, frac = divmod(steps * units, 10**places)
    return f"{whole}.{frac:0{places}d}" if places else str(whole)


@pytest.mark.parametrize("v", UINT_BOUNDARIES)
def test_uint_at_a_format_boundary_is_msgpack_pythons_bytes(v):
    assert _written(write_uint, v) == msgpack.packb(v)


@pytest.mark.parametrize("v", UINT_BOUNDARIES)
def test_uint_at_a_format_boundary_decodes_to_itself(v):
    assert msgpack.unpackb(_written(write_uint, v)) == v


@given(st.integers(0, 2**63 - 1))
def test_any_uint_is_msgpack_pythons_bytes(v):
    assert _written(write_uint, v) == msgpack.packb(v)


@pytest.mark.parametrize("n", ARRAY_LENGTHS)
def test_array_header_then_n_elements_decodes_to_an_array_of_n(n):
    body = _written(write_array_header, n) + b"\x01" * n
    assert msgpack.unpackb(body) == [1] * n


@given(st.integers(0, 2**32 - 1))
def test_any_array_header_is_msgpack_pythons_header(n):
    assert _written(write_array_header, n) == msgpack.Packer().pack_array_header(n)


@pytest.mark.parametrize("n", STR_LENGTHS)
def test_str_of_a_boundary_length_is_msgpack_pythons_bytes(n):
    text = ("k" * n).encode()
    assert _written(write_str, np.frombuffer(text, np.uint8), n) == msgpack.packb(text.decode())


@given(st.text(max_size=300))
def test_any_str_decodes_to_itself(s):
    text = s.encode()
    written = _written(write_str, np.frombuffer(text, np.uint8) if text else np.zeros(1, np.uint8), len(text))
    assert written == msgpack.packb(s)
    assert msgpack.unpackb(written) == s


def test_str_writes_only_the_first_n_bytes_of_its_buffer():
    text = np.frombuffer(b"abcdef", np.uint8)
    assert msgpack.unpackb(_written(write_str, text, 3)) == "abc"


def test_nil_decodes_to_none():
    assert msgpack.unpackb(_written(write_nil)) is None


@pytest.mark.parametrize(("steps", "units", "places", "text"), [
    (0, 1, 0, "0"), (0, 1, 3, "0.000"), (1, 1, 2, "0.01"), (24510, 1, 2, "245.10"), (3, 1, 0, "3"),
    (7, 5, 1, "3.5"), (123456, 10, 4, "123.4560"), (2**40, 100000, 5, "1099511627776.00000"),
    (2**63 - 1, 1, 0, "9223372036854775807"), (2**63 - 1, 1, 18, "9.223372036854775807"),
])
def test_decimal_is_a_string_with_exactly_places_decimals(steps, units, places, text):
    assert msgpack.unpackb(_written(write_decimal, steps, units, places)) == text


@given(st.integers(0, 2**40), st.sampled_from([1, 2, 5, 25, 100000]), st.integers(0, 8))
def test_any_decimal_is_msgpack_pythons_string_of_its_text(steps, units, places):
    assert _written(write_decimal, steps, units, places) == msgpack.packb(_decimal_text(steps, units, places))


@pytest.mark.parametrize("v", [0, 128, 2**40])
def test_uint_or_nil_writes_a_non_negative_value(v):
    assert msgpack.unpackb(_written(write_uint_or_nil, v)) == v


def test_uint_or_nil_writes_nil_for_a_negative_value():
    assert msgpack.unpackb(_written(write_uint_or_nil, -1)) is None


def test_decimal_or_nil_writes_a_non_negative_value():
    assert msgpack.unpackb(_written(write_decimal_or_nil, 0, 1, 2)) == "0.00"


def test_decimal_or_nil_writes_nil_for_negative_steps():
    assert msgpack.unpackb(_written(write_decimal_or_nil, -1, 1, 2)) is None


VALUES = ["reports", "", "x" * 40, 7, None, ["md", 1]]


@pytest.mark.parametrize("i", range(len(VALUES)))
def test_packed_table_entry_decodes_to_its_value(i):
    table, off = packed_table(VALUES)
    assert msgpack.unpackb(_written(write_packed, table, off, i)) == VALUES[i]


def test_packed_or_nil_writes_the_entry_for_a_non_negative_index():
    table, off = packed_table(VALUES)
    assert msgpack.unpackb(_written(write_packed_or_nil, table, off, 0)) == "reports"


def test_packed_or_nil_writes_nil_for_a_negative_index():
    table, off = packed_table(VALUES)
    assert msgpack.unpackb(_written(write_packed_or_nil, table, off, -1)) is None


def test_writers_write_at_the_position_given_and_return_the_end():
    out = np.zeros(32, np.uint8)
    p = write_array_header(out, 3, 2)
    p = write_uint(out, p, 300)
    p = write_decimal(out, p, 5, 1, 1)
    assert msgpack.unpackb(bytes(out[3:p])) == [300, "0.5"]
