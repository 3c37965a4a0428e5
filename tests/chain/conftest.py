"""Shared fixtures of the chain tests: real engine events, a real in-process EVM, the deployed contract."""
import pytest
from chainkit import INSTRUMENTS, account_name, engine_run


@pytest.fixture(scope="session")
def stream():
    """A real engine event stream of 6,000 orders (a few thousand fills), in 12 engine batches."""
    return engine_run(6_000, seed=7)


@pytest.fixture(scope="session")
def all_fills(stream):
    """Every fill of the stream as Fill records."""
    from kabuto.chain.fills import fills_from_events
    out = []
    for events, first in stream:
        out += fills_from_events(events, first, INSTRUMENTS, account_name)
    return out


@pytest.fixture(scope="module")
def evm():
    """A fresh in-process EVM (eth-tester on py-evm) per test module: (w3, [private keys])."""
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider, Web3
    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    keys = [k.to_hex() for k in tester.backend.account_keys]
    return w3, keys, tester


@pytest.fixture(scope="module")
def registry(evm):
    """FillRegistry deployed once per module by keys[0] (owner and operator)."""
    from kabuto.chain.contract import Registry, deploy
    w3, keys, _ = evm
    return Registry(w3, deploy(w3, keys[0]))
