"""The balances tables of an instruments file (docs/balances.md 1-3): assets, base/quote, fee tiers."""
import os
import subprocess
import sys
import tomllib

import pytest
from kabuto.engine.assets import FEE_ACCOUNT, Asset, amount_text, rate_millionths, rate_text
from kabuto.engine.errors import ConfigError
from kabuto.engine.instruments import load_config, parse_config, parse_instruments

HERE = os.path.dirname(__file__)
RISK_TOML = os.path.join(HERE, "risk", "risk.toml")
KABUTO = os.path.join(os.path.dirname(sys.executable), "kabuto")


def config(text: str, risk: bool = False):
    return parse_config(tomllib.loads(text), risk)


INS = '[[instrument]]\nsymbol = "TSLAx-USD"\ntick_size = "0.01"\nlot_size = "0.001"\n'


def test_the_worked_example_file():
    instruments, risk = load_config(RISK_TOML)
    assert risk.enabled and FEE_ACCOUNT == "@fees"
    assert risk.assets == (Asset("AMZNx", 3), Asset("TSLAx", 3), Asset("USD", 6))
    assert [i.symbol for i in instruments] == ["TSLAx-USD", "AMZNx-USD"]
    assert risk.base == (1, 0) and risk.quote == (2, 2)
    assert risk.bf == (1, 1) and risk.qf == (10, 10)
    assert risk.tiers == ((0, 0, 500),)


def test_the_built_in_set_derives_its_assets():
    _, risk = load_config(None)
    assert not risk.enabled
    assert {a.name: a.decimals for a in risk.assets} == {
        "AAPLx": 3, "AMZNx": 3, "BTC": 5, "ETH": 4, "NVDAx": 3, "TSLAx": 3, "USD": 7}
    assert load_config(None, risk=True)[1].enabled
    assert risk.tiers == ((0, 0, 0),)


def test_risk_is_on_by_the_file_or_the_command_line_and_never_off_by_the_command_line():
    assert not config(INS)[1].enabled
    assert config(INS, risk=True)[1].enabled
    assert config("[risk]\nenabled = true\n" + INS)[1].enabled
    assert config("[risk]\nenabled = false\n" + INS, risk=True)[1].enabled


def test_base_and_quote_come_from_the_symbol_or_the_table():
    text = ('[[instrument]]\nsymbol = "BTC/USDT"\ntick_size = "0.1"\nlot_size = "0.01"\n'
            '[[instrument]]\nsymbol = "ODD"\ntick_size = "1"\nlot_size = "1"\n'
            '[[instrument]]\nsymbol = "-X"\ntick_size = "1"\nlot_size = "1"\n'
            '[[instrument]]\nsymbol = "T1"\nbase = "TSLAx"\nquote = "USD"\ntick_size = "0.01"\nlot_size = "1"\n')
    _, risk = config(text, risk=True)
    names = [a.name for a in risk.assets]
    assert names == sorted(names)
    legs = [(risk.assets[b].name, risk.assets[q].name) for b, q in zip(risk.base, risk.quote)]
    assert legs == [("BTC", "USDT"), ("ODD.base", "ODD.quote"), ("-X.base", "-X.quote"), ("TSLAx", "USD")]
    dec = {a.name: a.decimals for a in risk.assets}
    assert dec["BTC"] == 2 and dec["USDT"] == 3 and dec["TSLAx"] == 0 and dec["USD"] == 2


def test_derived_decimals_count_places_as_written_and_take_the_largest():
    text = ('[[instrument]]\nsymbol = "A-USD"\ntick_size = "0.010"\nlot_size = "1"\n'
            '[[instrument]]\nsymbol = "B-USD"\ntick_size = "0.01"\nlot_size = "0.1"\n')
    _, risk = config(text, risk=True)
    assert {a.name: a.decimals for a in risk.assets} == {"A": 0, "B": 1, "USD": 3}
    assert risk.qf == (10, 1)


def test_a_declared_asset_without_instrument_and_more_decimals_than_needed():
    _, risk = config('[[asset]]\nsymbol = "EUR"\ndecimals = 2\n[[asset]]\nsymbol = "USD"\ndecimals = 9\n' + INS,
                     risk=True)
    assert risk.assets == (Asset("EUR", 2), Asset("TSLAx", 3), Asset("USD", 9))
    assert risk.qf == (10_000,)


def test_too_few_declared_decimals_is_an_error_with_risk_on_only():
    text = '[[asset]]\nsymbol = "USD"\ndecimals = 2\n' + INS
    assert not config(text)[1].enabled
    with pytest.raises(ConfigError, match="TSLAx-USD"):
        config(text, risk=True)


def test_fee_tiers_in_millionths_and_tier_zero_by_default():
    _, risk = config('[[fee_tier]]\ntier = 2\nmaker_bps = -0.25\ntaker_bps = 2\n'
                     '[[fee_tier]]\ntier = 1\nmaker_bps = "1.50"\ntaker_bps = "2.5"\n'
                     '[[fee_tier]]\ntier = 0\nmaker_bps = "0.25"\ntaker_bps = "2.5"\n' + INS)
    assert risk.tiers == ((0, 25, 250), (1, 150, 250), (2, -25, 200))


@pytest.mark.parametrize("text", [
    "[risk]\nenabled = 1\n",
    "[risk]\nenabled = true\ncolour = 1\n",
    "risk = true\n",
    '[[asset]]\nsymbol = "USD"\n',
    '[[asset]]\ndecimals = 2\n',
    '[[asset]]\nsymbol = "USD"\ndecimals = 19\n',
    '[[asset]]\nsymbol = "USD"\ndecimals = -1\n',
    '[[asset]]\nsymbol = "USD"\ndecimals = true\n',
    '[[asset]]\nsymbol = "USD"\ndecimals = "2"\n',
    '[[asset]]\nsymbol = "U S D"\ndecimals = 2\n',
    '[[asset]]\nsymbol = ""\ndecimals = 2\n',
    '[[asset]]\nsymbol = "' + "A" * 41 + '"\ndecimals = 2\n',
    '[[asset]]\nsymbol = "USD"\ndecimals = 2\ncolour = 1\n',
    '[[asset]]\nsymbol = "USD"\ndecimals = 6\n[[asset]]\nsymbol = "USD"\ndecimals = 6\n',
    '[[fee_tier]]\ntier = 0\nmaker_bps = "0"\n',
    '[[fee_tier]]\ntier = 256\nmaker_bps = "0"\ntaker_bps = "1"\n',
    '[[fee_tier]]\ntier = 1\nmaker_bps = "0"\ntaker_bps = "1"\nx = 1\n',
    '[[fee_tier]]\ntier = 0\nmaker_bps = "0.001"\ntaker_bps = "1"\n',
    '[[fee_tier]]\ntier = 0\nmaker_bps = "1e1"\ntaker_bps = "10"\n',
    '[[fee_tier]]\ntier = 0\nmaker_bps = "2"\ntaker_bps = "1"\n',
    '[[fee_tier]]\ntier = 0\nmaker_bps = "0"\ntaker_bps = "1000.01"\n',
    '[[fee_tier]]\ntier = 1\nmaker_bps = "-1"\ntaker_bps = "5"\n',  # tier 0 (0, 0) makes min taker 0
    '[[fee_tier]]\ntier = 0\nmaker_bps = "0"\ntaker_bps = "1"\n'
    '[[fee_tier]]\ntier = 0\nmaker_bps = "0"\ntaker_bps = "2"\n',
    '[[fee_tier]]\ntier = 0\nmaker_bps = true\ntaker_bps = "2"\n',
])
def test_bad_balances_tables_are_configuration_errors_in_both_modes(text):
    for risk in (False, True):
        with pytest.raises(ConfigError):
            config(text + INS, risk)
    with pytest.raises(ConfigError):
        parse_instruments(tomllib.loads(text + INS))


@pytest.mark.parametrize("entry", ['base = "USD"', 'quote = "TSLAx"', 'base = 1', 'quote = "a b"'])
def test_bad_base_or_quote_is_an_error_in_both_modes(entry):
    text = INS + entry + "\n"
    for risk in (False, True):
        with pytest.raises(ConfigError):
            config(text, risk)


def test_a_schedule_with_a_rebate_covered_by_every_taker_fee_is_valid():
    _, risk = config('[[fee_tier]]\ntier = 0\nmaker_bps = "0"\ntaker_bps = "5"\n'
                     '[[fee_tier]]\ntier = 1\nmaker_bps = "-5"\ntaker_bps = "5"\n' + INS)
    assert risk.tiers == ((0, 0, 500), (1, -500, 500))


def test_rate_and_amount_text():
    assert [rate_millionths(x) for x in ("5", "-0.25", "0.10", "-0", "1000", "1000.01", "0.001", "+1", ".5")] == [
        500, -25, 10, 0, 100_000, None, None, None, None]
    assert [rate_text(r) for r in (500, -25, 0, -100)] == ["5.00", "-0.25", "0.00", "-1.00"]
    assert [amount_text(*a) for a in ((1_000_000_000, 6), (3000, 3), (12, 0), (-49900, 6), (0, 2), (5, 3))] == [
        "1000.000000", "3.000", "12", "-0.049900", "0.00", "0.005"]


def test_a_bad_asset_table_stops_kabuto_replay_with_one_line(tmp_path):
    bad = tmp_path / "i.toml"
    bad.write_text('[[asset]]\nsymbol = "USD"\ndecimals = 40\n' + INS)
    log = tmp_path / "log.jsonl"
    log.write_text("")
    p = subprocess.run([KABUTO, "replay", str(log), "--instruments", str(bad)], capture_output=True, timeout=120)
    assert p.returncode != 0 and p.stdout == b""
    err = p.stderr.decode()
    assert err.count("\n") <= 1 and "decimals" in err and "Traceback" not in err
