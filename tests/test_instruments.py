"""Instruments files: exact steps, clear errors for anything the engine cannot hold."""
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kabuto.engine.errors import ConfigError
from kabuto.engine.instruments import KNOWN_KEYS, parse_instruments
from kabuto.replay.accounts import Accounts
from kabuto.replay.eventlog import Encoder

KABUTO = os.path.join(os.path.dirname(sys.executable), "kabuto")


def one(**kw):
    entry = {"symbol": "X-USD", "tick_size": "0.01", "lot_size": "0.001"}
    entry.update(kw)
    return parse_instruments({"instrument": [entry]})[0]


def test_decimal_places_follow_the_step_as_written():
    ins = one(tick_size="0.050")
    assert ins.px.text(3) == "0.150"
    assert ins.px.parse_plain("0.15") == 3


def test_min_qty_off_lot_rounds_up_to_whole_lots():
    assert one(min_qty="0.0025").min_lots == 3


@pytest.mark.parametrize("step", ["0.1234567", "1234567", "1e-40", "0", "-1", "abc"])
def test_a_step_the_kernel_cannot_hold_is_a_clear_error(step):
    with pytest.raises(ConfigError):
        one(tick_size=step)


def test_unknown_keys_and_duplicate_symbols_are_errors():
    with pytest.raises(ConfigError, match="unknown keys"):
        one(colour="red")
    entry = {"symbol": "X-USD", "tick_size": "0.01", "lot_size": "1"}
    with pytest.raises(ConfigError, match="duplicate"):
        parse_instruments({"instrument": [entry, entry]})


def test_band_edges_are_exact_on_ticks():
    from fractions import Fraction
    ins = one(band_pct="10")
    assert ins.band_edges(Fraction("180.005")) == (16201, 19800)  # 162.0045 -> 162.01; 198.0055 -> 198.00


@pytest.mark.parametrize("key", ["tick_size", "lot_size", "min_qty", "band_pct", "reference_price"])
@pytest.mark.parametrize("value", ["1e999", "1e18", "1e-31"])
def test_a_value_out_of_range_is_a_clear_error(key, value):
    with pytest.raises(ConfigError, match=f"{key} = '{value}' is out of range"):
        one(**{key: value})


@given(st.dictionaries(st.sampled_from(sorted(KNOWN_KEYS - {"symbol"})),
                       st.one_of(st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,6})?([eE]-?[0-9]{1,4})?", fullmatch=True),
                                 st.text(max_size=12), st.decimals(allow_nan=True), st.floats(),
                                 st.integers(), st.booleans())))
@settings(max_examples=300, deadline=None)
def test_any_instrument_values_give_instruments_or_a_config_error(fields):
    try:
        ins = one(**{k: str(v) if isinstance(v, Decimal) else v for k, v in fields.items()})
    except ConfigError:
        return
    Encoder([ins], Accounts())  # every step and limit fits the engine's int64 tables
    assert ins.px.text(1) and ins.qty.text(1) and ins.min_lots >= 1


BAD_FILES = {
    "huge_tick": b'[[instrument]]\nsymbol = "X-USD"\ntick_size = "1e999"\nlot_size = "1"\n',
    "not_utf8": b'[[instrument]]\nsymbol = "\xff\xfe"\ntick_size = "0.01"\nlot_size = "1"\n',
    "not_toml": b"[[instrument\n",
}


@pytest.mark.parametrize("command", ["replay", "serve"])
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_instruments_file_is_one_line_and_exit_status_2(tmp_path, command, name):
    path = tmp_path / "instruments.toml"
    path.write_bytes(BAD_FILES[name])
    args = ([command, str(tmp_path / "none.jsonl")] if command == "replay"
            else [command, "--data-dir", str(tmp_path / "data"), "--insecure", "--no-chain"])
    out = subprocess.run([KABUTO, *args, "--instruments", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"kabuto: instruments file {path}") or out.stderr.startswith("kabuto: instrument #1")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
