"""FillRegistry.vy on a real EVM (eth-tester/py-evm): ordered, operator-only commits; on-chain proofs."""
import random
from dataclasses import replace

import numpy as np
import pytest
from chainkit import INSTRUMENTS, account_name
from kabuto.chain.batch import build_batch
from kabuto.chain.contract import Registry, deploy, send
from kabuto.chain.errors import ContractError
from kabuto.chain.fills import account_names, fill_rows
from kabuto.chain.merkle import ZERO
from kabuto.chain.settlement import SymbolInfo

SYMBOLS = [SymbolInfo(i.symbol, str(i.tick_size), str(i.lot_size)) for i in INSTRUMENTS]


@pytest.fixture(scope="module")
def batches(stream):
    """Four batches of the engine stream's fills, chained, the way the batcher builds them."""
    rows = np.concatenate([fill_rows(e, f) for e, f in stream])
    out, prev, first = [], ZERO, 1
    for n, chunk in enumerate(np.array_split(rows, 4)):
        b = build_batch(n, prev, first, chunk, SYMBOLS, account_names(chunk, account_name))
        out.append(b)
        prev, first = b.record.hash, b.record.last_seq + 1
    return out


def account(key):
    from eth_account import Account
    return Account.from_key(key)


def commit(registry, key, record):
    return send(registry.w3, account(key), registry.functions.commit(*record.values()))


@pytest.fixture(scope="module")
def committed(evm, registry, batches):
    """Batches 0..2 committed by the operator (batch 3 is left for the rejection tests)."""
    _, keys, _ = evm
    for b in batches[:3]:
        commit(registry, keys[0], b.record)
    return batches[:3]


def test_the_operator_commits_batches_in_order(registry, committed):
    assert registry.next_batch() == 3
    assert registry.last_hash() == committed[-1].record.hash
    for b in committed:
        assert registry.fills_root(b.number) == b.record.fills_root


def test_each_commit_emits_one_event_with_the_record(evm, registry, committed):
    logs = registry.contract.events.BatchCommitted().get_logs(from_block=0)
    assert [(e.args.batch, bytes(e.args.record_hash), e.args.fill_count) for e in logs] == \
        [(b.number, b.record.hash, b.record.fill_count) for b in committed]


def test_proofs_of_random_fills_verify_on_chain(registry, committed):
    rnd = random.Random(5)
    for b in committed:
        tree = b.fill_tree()
        for i in rnd.sample(range(len(b.fills)), 8):
            assert tree.leaf(i) == b.fill(i).leaf()
            assert registry.verify_fill(b.number, tree.leaf(i), tree.proof(i))


def test_settlement_deltas_verify_on_chain(registry, committed):
    b = committed[1]
    tree = b.settle_tree()
    deltas = b.deltas()
    for i in random.Random(6).sample(range(len(deltas)), 10):
        assert registry.verify_settlement(b.number, deltas[i].leaf(), tree.proof(i))


def test_a_wrong_proof_is_rejected_on_chain(registry, committed):
    b = committed[0]
    tree = b.fill_tree()
    leaf, proof = tree.leaf(7), tree.proof(7)
    assert not registry.verify_fill(b.number, tree.leaf(8), proof)  # another fill's leaf
    assert not registry.verify_fill(b.number, leaf, proof[:-1])  # a short proof
    assert not registry.verify_fill(1, leaf, proof)  # the wrong batch
    assert not registry.verify_fill(3, leaf, proof)  # a batch not committed
    changed = b.fill(7)
    assert not registry.verify_fill(b.number, replace(changed, qty=changed.qty + 1).leaf(), proof)


def test_a_non_operator_cannot_commit(evm, registry, committed, batches):
    _, keys, _ = evm
    with pytest.raises(ContractError, match="not operator"):
        commit(registry, keys[1], batches[3].record)


def test_a_skipped_batch_number_is_rejected(evm, registry, committed, batches):
    _, keys, _ = evm
    with pytest.raises(ContractError, match="batch out of order"):
        commit(registry, keys[0], replace(batches[3].record, batch=4))


def test_a_repeated_batch_number_is_rejected(evm, registry, committed):
    _, keys, _ = evm
    with pytest.raises(ContractError, match="batch out of order"):
        commit(registry, keys[0], committed[2].record)


def test_a_record_not_chained_to_the_last_one_is_rejected(evm, registry, committed, batches):
    _, keys, _ = evm
    with pytest.raises(ContractError, match="prev hash mismatch"):
        commit(registry, keys[0], replace(batches[3].record, prev_hash=committed[1].record.hash))


def test_an_overlapping_seq_range_is_rejected(evm, registry, committed, batches):
    _, keys, _ = evm
    r = replace(batches[3].record, first_seq=committed[2].record.last_seq)
    with pytest.raises(ContractError, match="seq overlap"):
        commit(registry, keys[0], r)


def test_the_contract_computes_the_same_record_hash_as_python(evm, registry, committed, batches):
    _, keys, _ = evm
    commit(registry, keys[0], batches[3].record)
    assert registry.last_hash() == batches[3].record.hash


def test_a_paused_registry_refuses_commits_but_still_verifies(evm, batches):
    w3, keys, _ = evm
    reg = Registry(w3, deploy(w3, keys[0]))
    commit(reg, keys[0], batches[0].record)
    send(w3, account(keys[0]), reg.functions.set_paused(True))
    with pytest.raises(ContractError, match="paused"):
        commit(reg, keys[0], batches[1].record)
    tree = batches[0].fill_tree()
    assert reg.verify_fill(0, tree.leaf(0), tree.proof(0))
    send(w3, account(keys[0]), reg.functions.set_paused(False))
    commit(reg, keys[0], batches[1].record)
    assert reg.next_batch() == 2


def test_the_owner_rotates_the_operator_key(evm, batches):
    w3, keys, _ = evm
    reg = Registry(w3, deploy(w3, keys[0], operator=account(keys[1]).address))
    commit(reg, keys[1], batches[0].record)
    send(w3, account(keys[0]), reg.functions.set_operator(account(keys[2]).address))
    with pytest.raises(ContractError, match="not operator"):
        commit(reg, keys[1], batches[1].record)
    commit(reg, keys[2], batches[1].record)
    assert reg.next_batch() == 2


def test_only_the_owner_may_rotate_pause_or_hand_over(evm):
    w3, keys, _ = evm
    reg = Registry(w3, deploy(w3, keys[0]))
    stranger = account(keys[3])
    for call in (reg.functions.set_operator(stranger.address), reg.functions.set_paused(True),
                 reg.functions.transfer_ownership(stranger.address)):
        with pytest.raises(ContractError, match="not owner"):
            send(w3, stranger, call)
    send(w3, account(keys[0]), reg.functions.transfer_ownership(stranger.address))
    send(w3, stranger, reg.functions.set_paused(True))
    assert reg.functions.paused().call() is True
