"""The numba engine and the reference model agree event for event on random order logs."""
import pytest
from hypothesis import HealthCheck, given, settings
from kabuto.replay.replay import replay_text
from orderlogs import INSTRUMENTS, order_logs, random_log


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order_logs())
def test_numba_engine_and_reference_print_identical_events_and_books(log):
    events, book = replay_text(log, INSTRUMENTS, "numba")
    ref_events, ref_book = replay_text(log, INSTRUMENTS, "reference")
    assert events.splitlines() == ref_events.splitlines()
    assert book == ref_book


@pytest.mark.parametrize("seed", range(12))
def test_long_random_logs_agree_with_the_reference(seed):
    log = random_log(seed, 3000)
    events, book = replay_text(log, INSTRUMENTS, "numba")
    ref_events, ref_book = replay_text(log, INSTRUMENTS, "reference")
    assert events.splitlines() == ref_events.splitlines()
    assert book == ref_book
