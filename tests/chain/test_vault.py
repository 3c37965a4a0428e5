"""The vault (chain/contracts/Vault.vy, docs/balances.md 13) on the real EVM of eth-tester, with real
ERC-20 tokens: deposits, the deposit watcher (confirmations, reorgs), commits of risk-on batches from a
replay, claims by proof, the freeze, the escape hatch and reclaims, and the gas of each."""
import numpy as np
import pytest
from custodykit import RISK_LOG, address, fund, log_text, run_log, setup_vault
from kabuto.chain.batch import build_custody_batch
from kabuto.chain.contract import send
from kabuto.chain.custody import Custody, Withdrawal
from kabuto.chain.errors import ChainError, ContractError
from kabuto.chain.fills import FILL_DTYPE
from kabuto.chain.ledger import Ledger
from kabuto.chain.merkle import ZERO
from kabuto.chain.proof import balance_proof, withdrawal_proof
from kabuto.chain.vault import DepositWatcher, VaultPublisher, _account, commit_args

USD, TSLA = 10 ** 6, 10 ** 18  # token units per whole USD (quantum 1) and TSLAx (quantum 10^15)
DAY = 24 * 3600
LINES = RISK_LOG.read_bytes().splitlines()


def proof_args(p):
    return [bytes.fromhex(x[2:]) for x in p["proof"]]


@pytest.fixture(scope="module")
def chain(evm):
    """One vault with tokens, alice (keys[1]) and bob (keys[2]) funded."""
    w3, keys, tester = evm
    vault, tokens, _ = setup_vault(w3, keys, freeze_after_s=7 * DAY)
    fund(w3, tokens, keys, "USD", keys[1], 10_000 * USD, vault)
    fund(w3, tokens, keys, "TSLAx", keys[2], 10 * TSLA, vault)
    fund(w3, tokens, keys, "AMZNx", keys[3], 10 ** 12, vault)
    return w3, keys, tester, vault, tokens


def reverts(vault, key, fn, *args, match=None):
    with pytest.raises(ContractError, match=match):
        vault.tx(key, fn, *args)


def test_register_rules(chain):
    w3, keys, _, vault, tokens = chain
    reverts(vault, keys[0], "register_asset", "USD", tokens["USD"].address, 6)  # registered for good
    reverts(vault, keys[1], "register_asset", "EUR", tokens["USD"].address, 6)  # owner only
    reverts(vault, keys[0], "register_asset", "EUR", tokens["USD"].address, 7)  # token has 6 decimals
    assert vault.functions.quantum("TSLAx").call() == 10 ** 15
    assert vault.functions.quantum("USD").call() == 1
    assert vault.functions.asset_token("USD").call() == tokens["USD"].address


def test_deposit_rules(chain):
    w3, keys, _, vault, tokens = chain
    before = vault.deposit_counter()
    reverts(vault, keys[1], "deposit", "EUR", USD, "alice")  # unknown asset
    reverts(vault, keys[1], "deposit", "USD", 0, "alice")
    reverts(vault, keys[2], "deposit", "TSLAx", 10 ** 15 + 1, "bob")  # not a multiple of the quantum
    for bad in ("", "@fees", "a b", "é", "tab\t"):
        reverts(vault, keys[1], "deposit", "USD", USD, bad)
    reverts(vault, keys[1], "deposit", "USD", 2 ** 62, "alice")  # more than 2^62-1 units held
    assert vault.deposit_counter() == before
    # a fee-on-transfer token is refused
    from kabuto.chain.vault import deploy_token, token
    fee = token(w3, deploy_token(w3, keys[0], "FEE", "FEE", 6, transfer_fee_bps=10))
    vault.tx(keys[0], "register_asset", "FEE", fee.address, 6)
    send(w3, _account(keys[0]), fee.functions.mint(address(keys[1]), USD))
    send(w3, _account(keys[1]), fee.functions.approve(vault.address, USD))
    reverts(vault, keys[1], "deposit", "FEE", USD, "alice")


def test_full_cycle(chain, tmp_path):
    """Deposits on-chain, credited by the watcher after N confirmations, the worked example traded through
    a replay, its batch committed, alice's withdrawal claimed by proof (never twice), a deposit left
    uncredited, the freeze, every balance out by the escape hatch, the uncredited deposit reclaimed: the
    vault ends holding nothing."""
    w3, keys, tester, vault, tokens = chain
    gas = {}
    dep0 = vault.deposit_counter()
    assert dep0 == 0
    r = vault.tx(keys[1], "deposit", "USD", 1000 * USD, "alice")
    gas["deposit"] = r["gasUsed"]
    vault.tx(keys[2], "deposit", "TSLAx", 3 * TSLA, "bob")
    reverts(vault, keys[2], "deposit", "USD", USD, "alice", match="revert")  # alice is owned by keys[1]
    ev = vault.contract.events.Deposited().get_logs(from_block=0)
    assert [(e.args.id, e.args.account, e.args.asset, e.args.amount) for e in ev] == [
        (1, "alice", "USD", 1000 * USD), (2, "bob", "TSLAx", 3000)]  # venue units in the event
    consumed = [0]
    watcher = DepositWatcher(vault, lambda: consumed[0], confirmations=3)
    assert watcher.commands() == []  # bob's deposit block has 1 confirmation, alice's 2
    tester.mine_blocks(1)
    assert [c["dep"] for c in watcher.commands()] == [1]
    tester.mine_blocks(1)
    cmds = watcher.commands()
    assert cmds == [{"op": "deposit", "dep": 1, "acct": "alice", "asset": "USD", "amount": "1000.000000"},
                    {"op": "deposit", "dep": 2, "acct": "bob", "asset": "TSLAx", "amount": "3.000"}]
    consumed[0] = 2
    assert watcher.commands() == []
    # the worked example with the watcher's deposits in place of the operator's
    log = log_text(LINES[:2] + [c for c in cmds] + LINES[5:])
    d = tmp_path / "chain"
    run_log(log, VaultPublisher(d, w3, keys[0], vault.address))
    ledger = Ledger(d)
    rec = ledger.record(0)
    assert vault.functions.next_batch().call() == 1 and vault.balances_root(0) == rec.balances_root
    assert vault.functions.last_hash().call() == rec.hash
    assert vault.deposit_count() == 2
    # a publisher reopened on the ledger commits with the same wid range, read back from the ledger
    reopened = VaultPublisher(d, w3, keys[0], vault.address)
    assert reopened._commit_args(0) == (*rec.values(), 1, 1)
    reopened.close()
    # claim alice's withdrawal (anyone may send it; it pays alice's owner)
    p = withdrawal_proof(ledger, 1)
    w = p["withdrawal"]
    args = (0, w["wid"], w["account"], w["asset"], w["amount"], proof_args(p))
    bad = (0, w["wid"], w["account"], w["asset"], w["amount"] + 1, proof_args(p))
    reverts(vault, keys[5], "claim", *bad, match="revert")
    alice_usd = tokens["USD"].functions.balanceOf(address(keys[1])).call()
    r = vault.tx(keys[5], "claim", *args)
    gas["claim"] = r["gasUsed"]
    assert tokens["USD"].functions.balanceOf(address(keys[1])).call() == alice_usd + 249_625_000
    assert vault.functions.claimed(1).call()
    reverts(vault, keys[1], "claim", *args, match="revert")  # never twice
    # carol deposits after the last commit: never credited
    vault.tx(keys[3], "deposit", "AMZNx", 5 * 10 ** 8, "carol")
    # the venue stops; nobody can freeze before freeze_after
    reverts(vault, keys[5], "freeze", match="revert")
    reverts(vault, keys[5], "escape", "bob", "USD", 750075000, [], match="revert")  # not frozen
    tester.time_travel(w3.eth.get_block("latest")["timestamp"] + 7 * DAY + 1)
    r = vault.tx(keys[5], "freeze")
    gas["freeze"] = r["gasUsed"]
    assert vault.frozen()
    assert vault.contract.events.Frozen().get_logs(from_block=0)[0].args.last_batch == 0
    reverts(vault, keys[0], "commit", 1, rec.hash, 44, 43, 0, ZERO, ZERO, rec.balances_root, ZERO, 2, 0, 0)
    reverts(vault, keys[1], "deposit", "USD", USD, "alice")
    # everyone leaves by the escape hatch with the last committed balances
    paid = {}
    for b in ledger.batch(0).custody.balances:
        p = balance_proof(ledger, b.account, b.asset)
        r = vault.tx(keys[6], "escape", b.account, b.asset, b.total, proof_args(p))
        gas.setdefault("escape", r["gasUsed"])
        paid[(b.account, b.asset)] = r
    reverts(vault, keys[6], "escape", "bob", "USD", 750075000, proof_args(balance_proof(ledger, "bob", "USD")))
    assert tokens["TSLAx"].functions.balanceOf(address(keys[1])).call() == 3 * TSLA  # alice bought 3 TSLAx
    assert tokens["USD"].functions.balanceOf(address(keys[2])).call() == 750_075_000  # bob sold them
    assert tokens["USD"].functions.balanceOf(address(keys[0])).call() == 300_000  # fees: the fee recipient
    # carol's uncredited deposit comes back to her; credited ones cannot be reclaimed
    reverts(vault, keys[6], "reclaim", 2)
    r = vault.tx(keys[6], "reclaim", 3)
    gas["reclaim"] = r["gasUsed"]
    reverts(vault, keys[6], "reclaim", 3)
    assert tokens["AMZNx"].functions.balanceOf(address(keys[3])).call() == 10 ** 12
    # the vault's books: every unit had exactly one way out
    for t in tokens.values():
        assert t.functions.balanceOf(vault.address).call() == 0
    # claims still work after a freeze (none left here: a second claim stays refused)
    reverts(vault, keys[1], "claim", *args)
    print("\nvault gas:", gas)
    assert gas["claim"] < 80_000 - 17_100  # alice holds USD, and the commit marked wid 1's word in use
    ledger.close()


def test_commit_rules(evm, tmp_path):
    w3, keys, _ = evm
    vault, tokens, _ = setup_vault(w3, keys)
    one = b"01" * 16
    z = ZERO
    reverts(vault, keys[1], "commit", 0, z, 1, 0, 0, z, z, one, z, 0, 0, 0)  # not the operator
    reverts(vault, keys[0], "commit", 1, z, 1, 0, 0, z, z, one, z, 0, 0, 0)  # out of order
    reverts(vault, keys[0], "commit", 0, one, 1, 0, 0, z, z, one, z, 0, 0, 0)  # prev hash
    reverts(vault, keys[0], "commit", 0, z, 2, 5, 0, z, z, one, z, 0, 0, 0)  # first seq must be 1
    reverts(vault, keys[0], "commit", 0, z, 1, 3, 4, z, z, one, z, 0, 0, 0)  # 4 fills in 3 events
    reverts(vault, keys[0], "commit", 0, z, 1, 3, 1, z, z, one, z, 1, 0, 0)  # deposit 1 does not exist
    vault.tx(keys[0], "set_paused", True)
    reverts(vault, keys[0], "commit", 0, z, 1, 0, 0, z, z, one, z, 0, 0, 0)
    vault.tx(keys[0], "set_paused", False)
    reverts(vault, keys[0], "commit", 0, z, 1, 0, 0, z, z, one, z, 0, 0, 5)  # wid 0 does not exist
    reverts(vault, keys[0], "commit", 0, z, 1, 0, 0, z, z, one, z, 0, 5, 3)  # first wid after the last
    r = vault.tx(keys[0], "commit", 0, z, 1, 0, 0, z, z, one, z, 0, 0, 0)  # an empty batch 0
    assert r["status"] == 1 and vault.functions.next_batch().call() == 1


def withdrawals_batch(w3, keys, withdrawals, prepare=True):
    """A fresh vault whose batch 0 commits these withdrawals (alice: keys[1], bob: keys[2], both with USD
    left in their wallets); prepare=False commits them with the wid range (0, 0). (vault, tokens, tree)."""
    vault, tokens, _ = setup_vault(w3, keys)
    for key, name in ((keys[1], "alice"), (keys[2], "bob")):
        fund(w3, tokens, keys, "USD", key, 2_000 * USD, vault)
        vault.tx(key, "deposit", "USD", 1_000 * USD, name)
    custody = Custody([], withdrawals, [], 2)
    batch = build_custody_batch(0, ZERO, 1, 2 * len(withdrawals), np.empty(0, FILL_DTYPE), [], {}, custody)
    args = commit_args(batch) if prepare else (*batch.record.values(), 0, 0)
    vault.tx(keys[0], "commit", *args)
    return vault, tokens, custody.withdrawal_tree()


def claim_args(withdrawals, tree, i):
    w = withdrawals[i]
    return 0, w.wid, w.account, w.asset, w.amount, tree.proof(i)


def test_a_commit_marks_its_bitmap_words_in_use_and_no_wid_claimed(evm):
    """The words of a batch's wids are in use from its commit: the first claim of a word pays what any
    other claim does (no 0 -> nonzero store), and the commit marked no wid claimed."""
    w3, keys, _ = evm
    ws = [Withdrawal(w, "alice", "USD", 1_000 + w) for w in range(1, 601)]  # words 0, 1 and 2
    vault, _, tree = withdrawals_batch(w3, keys, ws)
    assert not any(vault.functions.claimed(w).call() for w in (0, 1, 254, 255, 509, 510, 600, 601))
    first = vault.tx(keys[5], "claim", *claim_args(ws, tree, 254))["gasUsed"]  # wid 255: first of word 1
    second = vault.tx(keys[5], "claim", *claim_args(ws, tree, 255))["gasUsed"]  # wid 256: word 1 in use
    assert abs(first - second) < 1_000  # a first store would cost 17,100 more
    assert vault.functions.claimed(255).call() and vault.functions.claimed(256).call()
    assert not vault.functions.claimed(254).call() and not vault.functions.claimed(257).call()


def test_a_claim_in_a_word_the_commit_did_not_mark_still_pays_once(evm):
    """The wid range is a gas hint: committed without it, a withdrawal is claimed all the same, once."""
    w3, keys, _ = evm
    ws = [Withdrawal(1, "alice", "USD", 5 * USD), Withdrawal(2, "bob", "USD", 7 * USD)]
    vault, tokens, tree = withdrawals_batch(w3, keys, ws, prepare=False)
    before = tokens["USD"].functions.balanceOf(address(keys[2])).call()
    vault.tx(keys[5], "claim", *claim_args(ws, tree, 1))
    assert tokens["USD"].functions.balanceOf(address(keys[2])).call() == before + 7 * USD
    reverts(vault, keys[5], "claim", *claim_args(ws, tree, 1), match="already claimed")
    assert vault.functions.claimed(2).call() and not vault.functions.claimed(1).call()


def test_a_claim_of_the_fee_account_pays_the_fee_recipient_of_the_day(evm):
    """"@fees" withdrawals pay the vault's fee recipient, the deployer until its owner changes it."""
    w3, keys, _ = evm
    ws = [Withdrawal(1, "@fees", "USD", 3 * USD), Withdrawal(2, "alice", "USD", USD)]
    vault, tokens, tree = withdrawals_batch(w3, keys, ws)
    assert vault.functions.fee_recipient().call() == address(keys[0])
    reverts(vault, keys[1], "set_fee_recipient", address(keys[7]))  # owner only
    vault.tx(keys[0], "set_fee_recipient", address(keys[7]))
    assert vault.functions.fee_recipient().call() == address(keys[7])
    vault.tx(keys[5], "claim", *claim_args(ws, tree, 0))
    assert tokens["USD"].functions.balanceOf(address(keys[7])).call() == 3 * USD


def test_watcher_follows_reorgs(evm):
    """A deposit a reorg replaced is credited as the chain has it now, by its id, once confirmed."""
    w3, keys, tester = evm
    vault, tokens, _ = setup_vault(w3, keys)
    fund(w3, tokens, keys, "USD", keys[1], 100 * USD, vault)
    fund(w3, tokens, keys, "USD", keys[4], 100 * USD, vault)
    watcher = DepositWatcher(vault, lambda: 0, confirmations=2)
    snap = tester.take_snapshot()
    vault.tx(keys[1], "deposit", "USD", 7 * USD, "alice")
    assert watcher.poll() == []  # one confirmation
    tester.revert_to_snapshot(snap)  # the block is gone: deposit 1 is now dave's
    vault.tx(keys[4], "deposit", "USD", 9 * USD, "dave")
    assert watcher.poll() == []
    tester.mine_blocks(1)
    got = watcher.poll()
    assert [(d.id, d.account, d.amount) for d in got] == [(1, "dave", 9 * USD)]
    with pytest.raises(ChainError, match="confirmations"):
        DepositWatcher(vault, lambda: 0, confirmations=0)


def test_a_wid_range_of_more_than_256_words_is_committed_and_its_last_words_left_to_their_claims(evm):
    """A commit marks at most 256 words; a longer range commits all the same, and a withdrawal in a word
    it left unmarked is claimed (paying for the word's first store)."""
    w3, keys, _ = evm
    far = 255 * 300  # word 300
    ws = [Withdrawal(1, "alice", "USD", USD), Withdrawal(far, "bob", "USD", 2 * USD)]
    vault, tokens, tree = withdrawals_batch(w3, keys, ws)
    before = tokens["USD"].functions.balanceOf(address(keys[2])).call()
    vault.tx(keys[5], "claim", *claim_args(ws, tree, 1))
    assert tokens["USD"].functions.balanceOf(address(keys[2])).call() == before + 2 * USD
    assert vault.functions.claimed(far).call() and not vault.functions.claimed(far - 1).call()
