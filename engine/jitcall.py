"""Calling a numba function through its compiled entry point, past the dispatcher.

numba's dispatcher matches the type of every argument on every call: about a microsecond per array
(more for record arrays). Once a call has compiled (or loaded) the function for its arguments,
the compiled entry point takes arguments of those same types directly.
"""
from __future__ import annotations


class DirectCall:
    """A numba function called through its entry point after the first call.

    The caller promises that every later call passes arguments of the same numba types (same
    dtypes, dimensions, layouts and writability) until it calls reset()."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.entry = None

    def __call__(self, *args):
        entry = self.entry
        if entry is not None:
            return entry(*args)
        out = self.dispatcher(*args)
        d = self.dispatcher
        self.entry = d.overloads[tuple(d.typeof_pyval(a) for a in args)].entry_point
        return out

    def reset(self) -> None:
        """Argument types may change: go through the dispatcher on the next call."""
        self.entry = None
