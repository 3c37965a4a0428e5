"""Waiting for an event in tests: poll a condition with a deadline that only matters when something is broken."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

# generous: a busy CI machine may take long for what takes milliseconds here; a passing test never waits it out
DEADLINE_S = 120.0


def wait_until(pred: Callable[[], object], timeout: float = DEADLINE_S, step: float = 0.02,
               poll: Iterable = ()) -> bool:
    """Poll pred (and, between tries, the given clients' sockets) until it holds: True, or False at the deadline."""
    poll = list(poll)
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > deadline:
            return bool(pred())
        for client in poll:
            client.poll(step)
        if not poll:
            time.sleep(step)
