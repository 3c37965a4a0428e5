"""`kabuto rest`: the REST and WebSocket adapter in front of a running venue (adapters/rest)."""
from __future__ import annotations


def register(subparsers) -> None:
    """Add the rest subcommand (not built yet)."""
