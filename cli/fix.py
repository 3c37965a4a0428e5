"""`kabuto fix`: the FIX 4.4 order entry adapter in front of a running venue (adapters/fix)."""
from __future__ import annotations


def register(subparsers) -> None:
    """Add the fix subcommand (not built yet)."""
