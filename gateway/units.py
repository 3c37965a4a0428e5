"""Decimal text of ticks and lots per instrument, memoized: venues print the same prices over and over."""
from __future__ import annotations

from collections.abc import Callable, Sequence

TEXT_CACHE = 1 << 14


class TextCache:
    """Per instrument, a plain dict from steps to text that hot loops read inline (`m.get(n) or miss(sym, n)`)."""

    def __init__(self, fns: Sequence[Callable[[int], str]], size: int = TEXT_CACHE):
        self.fns = list(fns)
        self.maps: list[dict[int, str]] = [{} for _ in self.fns]
        self.size = size

    def miss(self, sym: int, n: int) -> str:
        """Compute, remember and return the text of n steps of instrument sym."""
        m = self.maps[sym]
        if len(m) >= self.size:
            m.clear()
        s = m[n] = self.fns[sym](n)
        return s

    def text(self, sym: int, n: int) -> str:
        """The text of n steps of instrument sym."""
        return self.maps[sym].get(n) or self.miss(sym, n)


def price_cache(instruments) -> TextCache:
    """Ticks -> price text with the tick's decimal places, per instrument."""
    return TextCache([i.px.text for i in instruments])


def qty_cache(instruments) -> TextCache:
    """Lots -> quantity text with the lot's decimal places, per instrument."""
    return TextCache([i.qty.text for i in instruments])
