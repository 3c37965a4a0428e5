"""Optional dependencies: import one, or say in one line which extra of the package installs it."""
from __future__ import annotations

import importlib
from types import ModuleType

from kabuto.engine.errors import MissingExtra

EXTRAS = {
    "evm": "the EVM publisher (--chain-rpc, kabuto chain deploy, sync and status --chain-rpc)",
    "bench": "the benchmarks and their plots (make bench, from a source checkout)",
}


def require(module: str, extra: str) -> ModuleType:
    """The module, or MissingExtra naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or not (module == e.name or module.startswith(e.name + ".")):
            raise  # the module is there but something it imports is broken: not a missing extra
        raise MissingExtra(f"{EXTRAS[extra]} needs {e.name}, which is not installed: "
                           f"pip install 'kabuto[{extra}]'") from None
