"""A risk-on venue with the vault as its custodian (docs/balances.md 13.2, 13.6): a real `kabuto serve --risk
--chain-rpc` against a real EVM (eth-tester behind HTTP JSON-RPC). The venue credits a vault deposit once its
block has N confirmations, exactly once across a kill -9, refuses operator deposits, and once anyone froze the
vault refuses every command `frozen` while balances stay readable."""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
from custodykit import RISK_TOML, fund, setup_vault  # noqa: E402
from gatewaykit import ServeProcess  # noqa: E402
from kabuto.chain.errors import ContractError  # noqa: E402
from kabuto.gateway.client import Client  # noqa: E402
from kabuto.gateway.errors import ClientError, NotAuthorized  # noqa: E402
from kabuto.gateway.keys import add_client  # noqa: E402

pytest.importorskip("eth_tester")
from kabuto.chain.devnode import EvmNode  # noqa: E402

USD = 10 ** 6  # USDC units per dollar (the token has 6 decimals, as the venue's USD)
DAY = 24 * 3600
ACCOUNTS = ("op", "alice", "bob")


@pytest.fixture(scope="module")
def chain():
    """An EVM node over HTTP with a vault (freeze after 7 days), its tokens, alice (keys[1]) and bob (keys[2])
    funded and approved."""
    node = EvmNode()
    w3 = node.web3()
    keys = node.keys
    vault, tokens, _ = setup_vault(w3, keys, freeze_after_s=7 * DAY)
    fund(w3, tokens, keys, "USD", keys[1], 10_000 * USD, vault)
    fund(w3, tokens, keys, "USD", keys[2], 10_000 * USD, vault)
    yield node, w3, keys, vault
    node.stop()


def start(data_dir: Path, node: EvmNode, vault) -> ServeProcess:
    key = data_dir / "operator.key"
    key.write_text(node.keys[0])
    serve = ServeProcess(["--data-dir", str(data_dir), "--instruments", str(RISK_TOML), "--risk",
                          "--keys", str(data_dir / "clients.toml"), "--operators", "op",
                          "--orders", "tcp://127.0.0.1:0", "--market-data", "tcp://127.0.0.1:0",
                          "--snapshots", "tcp://127.0.0.1:0", "--chain-rpc", node.url, "--chain-key", str(key),
                          "--chain-contract", vault.address, "--confirmations", "2", "--deposit-poll", "0.05",
                          "--batch-ms", "50"])
    try:
        serve.wait_for("ready")
    except BaseException:
        serve.stop(signal.SIGKILL)
        raise
    return serve


@pytest.fixture(scope="module")
def venue(chain, tmp_path_factory):
    """The venue's data directory and its process (a test may kill and restart it: venue["serve"])."""
    node, _, _, vault = chain
    data_dir = tmp_path_factory.mktemp("vault-venue")
    for name in ACCOUNTS:
        add_client(data_dir, data_dir / "clients.toml", name)
    v = {"dir": data_dir, "serve": start(data_dir, node, vault)}
    yield v
    v["serve"].stop(signal.SIGKILL)


def usd(client: Client) -> str:
    return client.balances().get("USD", ["0", "0"])[0]


def wait_for(pred, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_vault_deposit_is_credited_once_its_block_has_n_confirmations(chain, venue):
    node, _, keys, vault = chain
    vault.tx(keys[1], "deposit", "USD", 1000 * USD, "alice")
    with Client.from_data_dir(venue["dir"], "alice") as alice:
        assert usd(alice) == "0"  # one confirmation of two: not credited however long the venue waits
        node.mine()
        report = alice.wait_balance(lambda r: r.ev == "deposited", timeout=60)
        assert (report.asset, report.amount, report.id) == ("USD", "1000.000000", 1)
        assert usd(alice) == "1000.000000"


def test_operators_cannot_deposit_when_the_vault_is_the_custodian(venue):
    with Client.from_data_dir(venue["dir"], "op") as op:
        with pytest.raises(NotAuthorized, match="vault"):
            op.wait_reply(op.deposit("bob", "USD", "5"))


def test_a_deposit_is_credited_exactly_once_across_a_kill_9(chain, venue):
    node, _, keys, vault = chain
    with Client.from_data_dir(venue["dir"], "bob") as bob:
        vault.tx(keys[2], "deposit", "USD", 250 * USD, "bob")
        node.mine()
        wait_for(lambda: usd(bob) == "250.000000", "bob's deposit")
    venue["serve"].stop(signal.SIGKILL)
    vault.tx(keys[2], "deposit", "USD", 50 * USD, "bob")
    node.mine(2)
    venue["serve"] = start(venue["dir"], node, vault)
    with Client.from_data_dir(venue["dir"], "bob") as bob:
        wait_for(lambda: usd(bob) == "300.000000", "bob's second deposit")
        time.sleep(0.3)  # several polls of the feed: a repeat would show as a larger total
        assert usd(bob) == "300.000000"
    assert sum("vault deposit" in line for line in venue["serve"].lines) == 1  # only deposit 3 after the restart


def test_once_the_vault_is_frozen_every_command_is_refused_frozen_and_balances_stay_readable(chain, venue):
    node, _, keys, vault = chain

    def freeze() -> bool:  # anyone may, once no batch was committed for freeze_after
        node.time_travel(30 * DAY)
        try:
            vault.tx(keys[5], "freeze")
            return True
        except ContractError:  # the venue committed a batch (the last deposit's) after the clock moved
            return False
    wait_for(freeze, "the vault to freeze")
    assert vault.frozen()
    with Client.from_data_dir(venue["dir"], "alice") as alice:
        def refused() -> bool:  # a mass cancel of nothing: answered until the venue sees the freeze
            try:
                alice.wait_reply(alice.mass_cancel())
                return False
            except ClientError as e:
                return "frozen" in str(e)
        wait_for(refused, "the venue to see the freeze")
        with pytest.raises(ClientError, match="frozen"):
            alice.wait_reply(alice.withdraw("USD", "1"))
        cl = alice.new("TSLAx-USD", "buy", "0.001", "250.00")
        wait_for(lambda: alice.poll(0.01) is not None and any(m[:3] == ["error", m[1], "frozen"]
                                                              for m in alice.replies.values()), "the order's refusal")
        assert usd(alice) == "1000.000000"  # balances stay readable, and nothing was withdrawn
        assert not any(r.cl_oid == cl for r in alice.reports)


def test_a_venue_restarted_after_the_freeze_refuses_its_first_command(chain, venue):
    node, _, _, vault = chain
    assert vault.frozen()  # (the test before froze it)
    venue["serve"].stop(signal.SIGKILL)
    venue["serve"] = start(venue["dir"], node, vault)
    with Client.from_data_dir(venue["dir"], "alice") as alice:
        with pytest.raises(ClientError, match="frozen"):
            alice.wait_reply(alice.mass_cancel())
        assert usd(alice) == "1000.000000"
