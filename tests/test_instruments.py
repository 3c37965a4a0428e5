"""Instruments files: exact steps, clear errors for anything the engine cannot hold."""
import pytest

from engine.errors import ConfigError
from engine.instruments import parse_instruments


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
