"""The numba engine and the reference model agree event for event on random order logs."""
from hypothesis import HealthCheck, given, settings

from engine.replay import replay_text
import pytest

from orderlogs import INSTRUMENTS, order_logs, random_log


@pytest.mark.parametrize("seed", range(12))
def test_long_random_logs_agree_with_the_reference(seed):
    log = random_log(seed, 3000)
    events, book = replay_text(log, INSTRUMENTS, "numba")
    ref_events, ref_book = replay_text(log, INSTRUMENTS, "reference")
    assert events.splitlines() == ref_events.splitlines()
    assert book == ref_book
