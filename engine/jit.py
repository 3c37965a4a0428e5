"""The project's `njit`: numba's, but a call from compiled code compiles once per argument types, not per constant."""
from __future__ import annotations

from typing import Any

import numba
from numba.core import types


def njit(*args: Any, **options: Any) -> Any:
    """`numba.njit` whose dispatchers type constant arguments of calls from compiled code as plain values.

    Numba compiles a callee again for every literal value a compiled caller passes (`f(x, 0)`,
    `f(x, HC_STALE)`, `f(x, True)`): the kernel's main loop was compiled three times and its halt and
    band helpers up to eight, most of the first run's compile time. Plain argument types give one
    specialization each; LLVM still folds the constants where it inlines.
    """
    if len(args) == 1 and callable(args[0]) and not options:
        return _plain_constants(numba.njit(args[0]))
    decorate = numba.njit(*args, **options)
    return lambda fn: _plain_constants(decorate(fn))


def _plain_constants(dispatcher: Any) -> Any:
    """Make `dispatcher` resolve calls from compiled code with every literal argument type unliteralized."""
    resolve = dispatcher.get_call_template

    def get_call_template(args: tuple, kws: dict) -> Any:
        return resolve(tuple(types.unliteral(a) for a in args), {k: types.unliteral(v) for k, v in kws.items()})

    dispatcher.get_call_template = get_call_template
    return dispatcher
