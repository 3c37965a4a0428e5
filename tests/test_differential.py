"""The numba engine and the reference model agree event for event on random order logs."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kabuto.replay.replay import replay_text
from orderlogs import INSTRUMENTS, ORACLE_INSTRUMENTS, oracle_log, order_logs, random_log
from risklogs import INSTRUMENTS as RISK_INSTRUMENTS
from risklogs import RISK, random_risk_log, risk_command


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order_logs())
def test_numba_engine_and_reference_print_identical_events_and_books(log):
    assert_agree(log, INSTRUMENTS)


def assert_agree(log: bytes, instruments) -> None:
    """Both engines print the same events and the same final book."""
    events, book = replay_text(log, instruments, "numba")
    ref_events, ref_book = replay_text(log, instruments, "reference")
    assert events.splitlines() == ref_events.splitlines()
    assert book == ref_book


@pytest.mark.parametrize("seed", range(12))
def test_long_random_logs_agree_with_the_reference(seed):
    assert_agree(random_log(seed, 3000), INSTRUMENTS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32))
def test_numba_engine_and_reference_agree_on_random_oracle_logs(seed):
    assert_agree(oracle_log(seed, 400), ORACLE_INSTRUMENTS)


@pytest.mark.parametrize("seed", range(6))
def test_long_random_oracle_logs_agree_with_the_reference(seed):
    assert_agree(oracle_log(1000 + seed, 2500), ORACLE_INSTRUMENTS)


def assert_agree_with_risk(log: bytes) -> None:
    """With risk on both engines print the same events (balances, holds, fees) and the same book and balances."""
    events, book = replay_text(log, RISK_INSTRUMENTS, "numba", risk=RISK)
    ref_events, ref_book = replay_text(log, RISK_INSTRUMENTS, "reference", risk=RISK)
    assert events.splitlines() == ref_events.splitlines()
    assert book == ref_book


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(risk_command(), max_size=60))
def test_numba_engine_and_reference_agree_with_risk_on(lines):
    assert_agree_with_risk(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("seed", range(6))
def test_long_random_risk_logs_agree_with_the_reference(seed):
    assert_agree_with_risk(random_risk_log(seed, 3000))
