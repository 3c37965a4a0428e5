"""`kabuto chain ...`: proofs, verification, status, contract deployment and chain sync."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from kabuto.chain.defaults import DEFAULT_DIR
from kabuto.chain.errors import ChainError, ContractError, ProofError

if TYPE_CHECKING:
    from kabuto.chain.batcher import FillBatcher

DEPLOYMENT = "chain.json"  # in the ledger directory: where `chain deploy` put the contract


def register(sub) -> None:
    """Add the chain subcommand and its own subcommands."""
    p = sub.add_parser("chain", help="on-chain mapping: fill proofs, verification, status",
                       description="Batched fills committed as Merkle roots: to a local ledger (default) "
                                   "or a FillRegistry contract on any EVM JSON-RPC node.")
    cs = p.add_subparsers(dest="chain_command", required=True)

    q = cs.add_parser("proof", help="print a fill, its batch and its Merkle proof as JSON")
    q.add_argument("fill_id", type=_fill_id, metavar="FILL_ID", nargs="?", help="the fill event's seq")
    q.add_argument("--withdrawal", type=_fill_id, metavar="WID",
                   help="risk on: withdrawal WID, its batch and proof (what the vault's claim takes)")
    q.add_argument("--balance", nargs=2, metavar=("ACCOUNT", "ASSET"),
                   help="risk on: the account's total of the asset in the last batch's balances root (what the "
                        "vault's escape takes once frozen), its leaf and proof")
    q.add_argument("--batch", type=int, metavar="N", help="with --balance: the balances root of batch N")
    q.add_argument("--format", choices=("kabuto", "oz"), default="kabuto",
                   help="kabuto: the fill, its batch record, leaf and proof (what `chain verify` reads); oz: the "
                        "fill tree of its batch as OpenZeppelin's StandardMerkleTree.dump() writes it")
    _ledger_option(q)
    q.set_defaults(func=cmd_proof)

    v = cs.add_parser("verify", help="check a proof (or the whole ledger) against the ledger or the chain")
    v.add_argument("proof", nargs="?", metavar="PROOF",
                   help="proof JSON from `kabuto chain proof` (a file, or - for standard input); "
                        "without it, audit every batch of the ledger")
    _ledger_option(v)
    v.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="with no PROOF: also replay the venue's journal in DIR and check that the ledger's fills "
                        "are exactly the journal's over the seqs the ledger covers (none missing, none added)")
    _rpc_options(v, key=False)
    v.set_defaults(func=cmd_verify)

    s = cs.add_parser("status", help="last committed batch, backlog and gas used")
    _ledger_option(s)
    _rpc_options(s, key=False)
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=cmd_status)

    d = cs.add_parser("deploy", help="deploy a FillRegistry contract and remember it in the ledger directory")
    _ledger_option(d)
    _rpc_options(d, key=True, required=True)
    d.add_argument("--operator", help="operator address (default: the key's address)")
    d.add_argument("--vault", action="store_true",
                   help="deploy a Vault (risk on, docs/balances.md 13) instead of a FillRegistry")
    d.add_argument("--freeze-after", type=int, default=7 * 24 * 3600, metavar="S",
                   help="with --vault: seconds without a commit after which anyone can freeze it (default 7 days)")
    d.set_defaults(func=cmd_deploy)

    y = cs.add_parser("sync", help="commit every ledger batch the contract does not have yet")
    _ledger_option(y)
    _rpc_options(y, key=True, required=True)
    y.set_defaults(func=cmd_sync)


def add_publisher_options(p: argparse.ArgumentParser) -> None:
    """Options of a command that feeds a FillBatcher (replay, serve); pair with make_batcher."""
    p.add_argument("--chain-rpc", metavar="URL", help="also commit batches to a FillRegistry at this JSON-RPC node")
    p.add_argument("--chain-key", metavar="FILE", help="file holding the operator's hex private key")
    p.add_argument("--chain-contract", metavar="ADDR", help="FillRegistry address (default: from `chain deploy`)")
    p.add_argument("--batch-fills", type=int, default=10_000, metavar="N", help="close a batch at N fills")
    p.add_argument("--batch-ms", type=float, default=1_000, metavar="MS", help="close a batch MS after its first fill")
    p.add_argument("--batch-heartbeat", type=float, default=3600, metavar="S",
                   help="risk on: commit an empty batch after S seconds without one (default 3600)")


def make_batcher(args: argparse.Namespace, instruments: Sequence,
                 account_name: Callable[[int], str] | None, risk=None) -> FillBatcher | None:
    """The batcher the options ask for (None without --ledger or --chain-rpc): with risk on (given, or for
    `kabuto replay` read from its --instruments and --risk) a CustodyBatcher committing balances and
    withdrawals too, to a Vault with --chain-rpc; else a FillBatcher."""
    ledger = getattr(args, "ledger", None)
    rpc = getattr(args, "chain_rpc", None)
    if not ledger and not rpc:
        return None
    from kabuto.chain.batcher import FillBatcher  # (eth-abi: a fifth of a second to import)
    if risk is None and hasattr(args, "orders") and getattr(args, "format", "jsonl") == "jsonl":
        from kabuto.engine.instruments import load_config
        risk = load_config(getattr(args, "instruments", None), getattr(args, "risk", False))[1]
    custody = risk is not None and risk.enabled
    ledger = ledger or DEFAULT_DIR
    if rpc:
        publisher = _evm_publisher(ledger, args, custody)
    else:
        from kabuto.chain.ledger import LedgerPublisher
        publisher = LedgerPublisher(ledger)
    kw = {"max_fills": getattr(args, "batch_fills", 10_000), "max_ms": getattr(args, "batch_ms", 1_000)}
    if custody:
        from kabuto.chain.custody_batcher import CustodyBatcher
        return CustodyBatcher(instruments, account_name, publisher, risk,
                              heartbeat_s=getattr(args, "batch_heartbeat", 3600), **kw)
    return FillBatcher(instruments, account_name, publisher, **kw)


@contextmanager
def node_errors() -> Iterator[None]:
    """Turn anything a node or web3 raises into one clear ContractError line."""
    try:
        yield
    except ChainError:
        raise
    except Exception as e:
        raise ContractError(f"node error: {type(e).__name__}: {e}") from None


def _fill_id(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fill id: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"fill ids start at 1: {text}")
    return v


def _ledger_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ledger", default=DEFAULT_DIR, metavar="PATH",
                   help=f"ledger directory (default: {DEFAULT_DIR})")


def _rpc_options(p: argparse.ArgumentParser, key: bool, required: bool = False) -> None:
    p.add_argument("--chain-rpc", metavar="URL", required=required, help="EVM JSON-RPC node")
    if key:
        p.add_argument("--chain-key", metavar="FILE", required=required,
                       help="file holding the operator's hex private key")
    p.add_argument("--chain-contract", metavar="ADDR", help="FillRegistry address (default: from `chain deploy`)")


def contract_address(args: argparse.Namespace) -> str:
    """The contract the options name: --chain-contract, else the deployment recorded in the ledger."""
    if getattr(args, "chain_contract", None):
        return args.chain_contract
    path = Path(args.ledger) / DEPLOYMENT
    try:
        return json.loads(path.read_text())["contract"]
    except (OSError, ValueError, KeyError):
        raise ContractError(f"no --chain-contract and no deployment recorded in {path}") from None


def _registry(args: argparse.Namespace):
    from kabuto.chain.contract import Registry, connect
    return Registry(connect(args.chain_rpc), contract_address(args))


def _evm_publisher(ledger: str, args: argparse.Namespace, custody: bool | None = None):
    """The EVM publisher of a ledger: to a Vault for risk-on batches (custody, or a deployment recorded by
    `chain deploy --vault`), else to a FillRegistry."""
    from kabuto.chain.contract import connect, load_key
    from kabuto.chain.evm import EvmPublisher
    if not getattr(args, "chain_key", None):
        raise ContractError("--chain-rpc needs --chain-key")
    args.ledger = ledger
    if custody is None:
        custody = _deployment(ledger).get("kind") == "vault"
    if custody:
        from kabuto.chain.vault import VaultPublisher
        return VaultPublisher(ledger, connect(args.chain_rpc), load_key(args.chain_key), contract_address(args))
    return EvmPublisher(ledger, connect(args.chain_rpc), load_key(args.chain_key), contract_address(args))


def _deployment(ledger: str) -> dict:
    try:
        return json.loads((Path(ledger) / DEPLOYMENT).read_text())
    except (OSError, ValueError):
        return {}


def _open_ledger(path: str):
    from kabuto.chain.ledger import Ledger
    return Ledger(path)


def cmd_proof(args: argparse.Namespace) -> int:
    """kabuto chain proof FILL_ID | --withdrawal WID | --balance ACCOUNT ASSET"""
    from kabuto.chain.proof import balance_proof, fill_batch, fill_proof, oz_tree, withdrawal_proof
    asked = [x for x in (args.fill_id, args.withdrawal, args.balance) if x is not None]
    if len(asked) != 1:
        raise ProofError("give one of FILL_ID, --withdrawal WID, --balance ACCOUNT ASSET")
    if args.batch is not None and args.balance is None:
        raise ProofError("--batch goes with --balance")
    if args.fill_id is None and args.format == "oz":
        raise ProofError("--format oz dumps a fill tree: give a FILL_ID")
    ledger = _open_ledger(args.ledger)
    try:
        if args.withdrawal is not None:
            doc = withdrawal_proof(ledger, args.withdrawal)
        elif args.balance is not None:
            doc = balance_proof(ledger, args.balance[0], args.balance[1], args.batch)
        elif args.format == "oz":
            doc = oz_tree(fill_batch(ledger, args.fill_id)[0])
        else:
            doc = fill_proof(ledger, args.fill_id)
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    finally:
        ledger.close()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """kabuto chain verify [PROOF]: exit 0 when valid, 1 when not."""
    if args.proof is None:
        return _audit(args)
    if args.data_dir is not None:
        raise ProofError("--data-dir checks a whole ledger: give no PROOF with it")
    from kabuto.chain.proof import check_against_chain, check_against_ledger, check_fill_proof
    try:
        text = sys.stdin.read() if args.proof == "-" else Path(args.proof).read_text(encoding="utf-8")
        doc = json.loads(text)
    except OSError as e:
        raise ProofError(f"cannot read {args.proof}: {e.strerror}") from None
    except ValueError as e:
        raise ProofError(f"{args.proof}: not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ProofError(f"{args.proof}: not a fill proof document")
    problems = check_fill_proof(doc)
    where = "the proof itself"
    if args.chain_rpc:
        with node_errors():
            problems += check_against_chain(doc, _registry(args))
        where = "the contract"
    else:
        ledger = _open_ledger(args.ledger)
        try:
            problems += check_against_ledger(doc, ledger)
        finally:
            ledger.close()
        where = f"the ledger {args.ledger}"
    seq, batch = doc["fill"]["seq"], doc["batch"]["batch"]
    if problems:
        for p in problems:
            print(f"invalid: {p}")
        return 1
    print(f"valid: fill {seq} is in batch {batch}, checked against {where}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    ledger = _open_ledger(args.ledger)
    try:
        problems = ledger.verify()
        if args.data_dir is not None and ledger.count and not problems:
            problems += _journal_problems(ledger, args.data_dir)
        n, fills = ledger.count, sum(e.record.fill_count for e in ledger.entries)
        on_chain = None
        if args.chain_rpc:
            with node_errors():
                reg = _registry(args)
                chain_n = reg.next_batch()
                on_chain = min(chain_n, n)
                if chain_n > n:
                    problems.append(f"the contract has {chain_n} batches, the ledger only {n}")
                for k in range(on_chain):
                    if reg.fills_root(k) != ledger.record(k).fills_root:
                        problems.append(f"batch {k}: the contract's fills root differs from the ledger's")
                if 0 < chain_n <= n and reg.last_hash() != ledger.record(chain_n - 1).hash:
                    problems.append(f"batch {chain_n - 1}: the contract's record hash differs from the ledger's")
    finally:
        ledger.close()
    for p in problems:
        print(f"invalid: {p}")
    if problems:
        return 1
    tail = f"; {on_chain} of them match the contract" if on_chain is not None else ""
    if args.data_dir is not None:
        tail += f"; the same fills as the journal in {args.data_dir}"
    print(f"valid: {n} batches, {fills} fills, hash chain and roots recomputed{tail}")
    return 0


def _journal_problems(ledger, data_dir: Path) -> list[str]:
    """Differences between the ledger's fills and those of a replay of the venue's whole journal."""
    from kabuto.chain.fills import fill_rows
    from kabuto.chain.ledger import CommittedFills
    from kabuto.durability.recovery import meta_instruments, read_meta, recover_state
    committed = CommittedFills(ledger)
    lo, hi = ledger.record(0).first_seq, ledger.record(ledger.count - 1).last_seq
    problems: list[str] = []

    def compare(events, first: int, names: list) -> None:
        a, b = max(first, lo), min(first + len(events) - 1, hi)
        if problems or a > b:
            return
        rows = fill_rows(events[a - first:b - first + 1], a)
        old = committed.rows(a, b)
        if len(old) != len(rows) or (old != rows).any():
            problems.append(f"the ledger's fills of seqs {a}..{b} are not the journal's: "
                            f"{len(old)} in the ledger, {len(rows)} in the journal")

    r = recover_state(data_dir, meta_instruments(read_meta(data_dir / "journal")), use_snapshot=False,
                      on_events=compare)
    if not problems and r.engine.seq < hi:
        problems.append(f"the ledger covers seqs up to {hi}, the journal's events end at {r.engine.seq}")
    return problems


def cmd_status(args: argparse.Namespace) -> int:
    """kabuto chain status"""
    from kabuto.chain.evm import RECEIPTS, chain_status, gas_summary
    from kabuto.chain.ledger import ledger_status
    ledger = _open_ledger(args.ledger)
    try:
        st = ledger_status(ledger)
        st["queued_batches"] = len(list((Path(args.ledger) / "queue").glob("*.batch")))
        st.update(gas_summary(Path(args.ledger) / RECEIPTS))
        if args.chain_rpc:
            with node_errors():
                st.update(chain_status(_registry(args), ledger.count))
    finally:
        ledger.close()
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    last = st["last"]
    print(f"ledger          {st['ledger']}")
    print(f"batches         {st['batches']} ({st['fills']} fills)")
    if last:
        print(f"last batch      {last['batch']}: seqs {last['first_seq']}..{last['last_seq']}, "
              f"{last['fill_count']} fills, hash {last['hash']}")
    if st["torn_tail"]:
        print(f"torn tail       {st['torn_tail']['bytes']} bytes at byte {st['torn_tail']['byte']} (a half-written "
              f"frame: the writer cuts it at its next start)")
    print(f"queued          {st['queued_batches']} batches waiting for the publisher")
    if "contract" in st:
        print(f"contract        {st['contract']}: {st['chain_next_batch']} batches committed, "
              f"{st['chain_backlog']} behind the ledger")
        print(f"commits         {'PAUSED by the owner' if st['chain_paused'] else 'open'}")
    if st["gas_used"]:
        print(f"gas used        {st['gas_used']} ({st['gas_per_batch']} per batch, {st['gas_per_fill']} per fill)")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """kabuto chain deploy"""
    from kabuto.chain.contract import connect, deploy, load_key
    w3 = connect(args.chain_rpc)
    with node_errors():
        if args.vault:
            from kabuto.chain.vault import deploy_vault
            address = deploy_vault(w3, load_key(args.chain_key), args.operator, args.freeze_after)
        else:
            address = deploy(w3, load_key(args.chain_key), args.operator)
        chain_id = w3.eth.chain_id
    path = Path(args.ledger)
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / DEPLOYMENT).write_text(json.dumps({"contract": address, "chain_id": chain_id, "rpc": args.chain_rpc,
                                                   "kind": "vault" if args.vault else "registry"}, indent=2) + "\n")
    except OSError as e:
        raise ContractError(f"deployed {address} but cannot write {path / DEPLOYMENT}: {e.strerror}") from None
    print(address)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """kabuto chain sync: bring the contract up to the ledger."""
    pub = _evm_publisher(args.ledger, args)
    try:
        sent = pub.sync()
        st = pub.status()
    finally:
        pub.close()
    print(f"committed {sent} batches; contract at {st['chain_next_batch']} of {st['batches']}")
    return 0
