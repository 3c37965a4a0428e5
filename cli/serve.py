"""`kabuto serve` (the venue) and `kabuto keygen` (client keys), registered by the kabuto dispatcher."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import time
from pathlib import Path

from kabuto.cli import adapters
from kabuto.engine.codes import MARKET_NAMES
from kabuto.gateway import config as C
from kabuto.gateway.errors import ConfigError

log = logging.getLogger(__name__)

SERVE_HELP = """\
Run a Kabuto venue on this machine: order entry (ZeroMQ ROUTER, msgpack), market data (PUB) and
book snapshots (ROUTER), all matched by one engine thread. Without options it serves the built-in
instruments with CurveZMQ encryption: the server key pair and, when no key file exists, demo client
keys for the accounts mm1, mm2 and trader are created in the data directory. The endpoints and the
server's public key are written to DATA_DIR/endpoints.json. SIGINT or SIGTERM stops it gracefully.
Protocol: docs/protocol.md."""


def register(subparsers) -> None:
    """Add the serve and keygen subcommands."""
    d = C.GatewayConfig()
    p = subparsers.add_parser("serve", help="run the venue: order entry, market data and snapshots over ZeroMQ",
                              description=SERVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR",
                   help="state directory: keys, endpoints.json (default: %(default)s)")
    p.add_argument("--instruments", type=Path, metavar="FILE",
                   help="instruments TOML file (default: the built-in TSLAx, AMZNx, AAPLx, NVDAx, BTC, ETH set)")
    p.add_argument("--orders", default=d.orders, metavar="ENDPOINT",
                   help="order entry ROUTER endpoint; port 0 picks a free port (default: %(default)s)")
    p.add_argument("--market-data", default=d.market_data, metavar="ENDPOINT",
                   help="market data PUB endpoint (default: %(default)s)")
    p.add_argument("--snapshots", default=d.snapshots, metavar="ENDPOINT",
                   help="book snapshot ROUTER endpoint (default: %(default)s)")
    p.add_argument("--insecure", action="store_true",
                   help="plain text, no keys: clients name their account at logon (localhost development only)")
    p.add_argument("--keys", type=Path, metavar="FILE",
                   help="client key file mapping CurveZMQ public keys to accounts (default: DATA_DIR/clients.toml, "
                        "created with demo accounts when missing); re-read when it changes")
    p.add_argument("--cod-timeout", type=float, default=d.cod_timeout, metavar="SECONDS",
                   help="a session silent this long is dropped, and its orders canceled when it asked for "
                        "cancel-on-disconnect at logon (default: %(default)s)")
    p.add_argument("--rate-limit", type=int, default=d.rate_limit, metavar="N",
                   help="order commands per second per session, bursts up to N; 0 = no limit (default: %(default)s)")
    p.add_argument("--max-live-orders", type=int, default=d.max_live_orders, metavar="N",
                   help="live orders per account (default: %(default)s)")
    p.add_argument("--max-frame", type=int, default=d.max_frame, metavar="BYTES",
                   help="largest accepted frame; a client sending a larger one is disconnected (default: %(default)s)")
    p.add_argument("--max-batch", type=int, default=d.max_batch, metavar="N",
                   help="most commands in one batch frame (default: %(default)s)")
    p.add_argument("--md-heartbeat", type=float, default=d.md_heartbeat, metavar="SECONDS",
                   help="market data heartbeat period per symbol (default: %(default)s)")
    p.add_argument("--batch-target", type=int, default=d.batch_target, metavar="N",
                   help="commands after which a batch runs while frames wait (default: 256, or 4096 with "
                        "--fsync always; docs/protocol.md, Fairness)")
    p.add_argument("--l3", action="store_true",
                   help="also publish the order-by-order (L3) feed: topic SYMBOL#, snapshots by "
                        "[\"snapshot_l3\", req, symbol]")
    p.add_argument("--operators", nargs="+", default=[], metavar="ACCOUNT",
                   help="accounts allowed to set reference prices (`ref`, which moves price bands; "
                        "default: none)")
    p.add_argument("--risk", action="store_true",
                   help="balances, holds and fees on (docs/balances.md), also when the instruments file does not "
                        "say [risk] enabled = true; deposits are operator commands (kabuto deposit). A data "
                        "directory whose journal exists keeps the setting it was written with")
    p.add_argument("--oracles", nargs="+", default=[], metavar="ACCOUNT",
                   help="accounts allowed to send oracle updates of oracle instruments (`oracle`; "
                        "docs/market-integrity.md 6; default: none)")
    p.add_argument("--sink", action="append", default=[], metavar="MODULE:FACTORY",
                   help="add an event sink: FACTORY(instruments, data_dir) returns an object with "
                        "handle(events, first_seq) and close(); repeatable")
    p.add_argument("--ledger", type=Path, metavar="DIR",
                   help="chain ledger the venue commits its fill batches to (default: DATA_DIR/chain)")
    p.add_argument("--no-chain", action="store_true", help="do not batch fills to any chain ledger")
    from kabuto.cli.chain import add_publisher_options
    add_publisher_options(p)
    p.add_argument("--confirmations", type=int, default=12, metavar="N",
                   help="risk on with --chain-rpc (the vault): credit a vault deposit once its block has N "
                        "confirmations, the block itself counting as one (default: %(default)s)")
    adapters.add_options(p)
    p.add_argument("--deposit-poll", type=float, default=1.0, metavar="SECONDS",
                   help="risk on with --chain-rpc: how often the vault is read for deposits and its freeze "
                        "(default: %(default)s)")
    p.add_argument("--fsync", nargs="+", default=["always"], metavar="POLICY",
                   help="journal durability: 'always' (default: nothing is acknowledged before it is on disk), "
                        "'batch-ms N' (sync every N ms: a power loss can lose the last N ms), "
                        "'off' (the OS decides: a power loss can lose much more)")
    p.add_argument("--snapshot-every", type=int, default=1_000_000, metavar="N",
                   help="write a snapshot after every N journaled commands and at shutdown (0: only on SIGUSR1, "
                        "which asks for one after the next batch) (default: %(default)s)")
    p.add_argument("--prune-journal", action="store_true",
                   help="after each snapshot, delete the journal segments whose records are all covered by the "
                        "oldest kept snapshot, once the chain batcher has committed every fill up to that "
                        "snapshot. The journal's history then starts at the oldest kept snapshot: recovery "
                        "works, `kabuto replay` and `kabuto journal export` of the journal, which start at "
                        "record 1, are refused (default: keep every segment)")
    p.add_argument("--truncate-corrupt-tail", action="store_true",
                   help="cut a corrupt end of the journal's last segment (a complete record failing its checksum, "
                        "garbage after the last record) instead of refusing to start; the records cut are lost. "
                        "A torn last record (the file ends inside it) is always cut (default: refuse)")
    p.add_argument("--segment-bytes", type=int, default=64 << 20, metavar="BYTES",
                   help="start a new journal segment file once the current one holds this many bytes "
                        "(default: %(default)s)")
    p.add_argument("--no-journal", action="store_true",
                   help="no journal, no recovery: every order is lost when the process stops (benchmarks only)")
    p.add_argument("--metrics", type=listen_address, metavar="[HOST:]PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (docs/metrics.md); PORT alone: "
                        "127.0.0.1 (default: off)")
    p.add_argument("--dashboard", type=listen_address, metavar="[HOST:]PORT",
                   help="serve the live dashboard web page at http://HOST:PORT/ (docs/dashboard.md); PORT alone: "
                        "127.0.0.1 (default: off)")
    p.set_defaults(func=serve)

    k = subparsers.add_parser("keygen", help="create a client key pair for an account and register it",
                              description="Create DATA_DIR/keys/ACCOUNT.key_secret (and .key) and add the "
                                          "public key to the client key file; a running venue picks it up.")
    k.add_argument("account", help="account name: 1 to 64 of A-Z a-z 0-9 . _ -")
    k.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR",
                   help="state directory (default: %(default)s)")
    k.add_argument("--keys", type=Path, metavar="FILE", help="client key file (default: DATA_DIR/clients.toml)")
    k.set_defaults(func=keygen)

    r = subparsers.add_parser("ref", help="set an instrument's reference price on a running venue (operators)",
                              description="Log on to the venue of DATA_DIR as an operator account (serve "
                                          "--operators) and set SYMBOL's reference price: its price band moves "
                                          "and resting orders outside it are canceled.")
    r.add_argument("symbol")
    r.add_argument("price", help="the reference price, a decimal")
    r.add_argument("--account", required=True, help="the operator account (with CurveZMQ: its key in DATA_DIR/keys)")
    r.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR",
                   help="the venue's state directory (default: %(default)s)")
    r.set_defaults(func=set_reference)

    for name, verb in (("halt", "halt trading in"), ("resume", "lift the operator's halt of")):
        h = subparsers.add_parser(name, help=f"{verb} an instrument, or the whole venue, on a running venue "
                                             f"(operators)",
                                  description=f"Log on to the venue of DATA_DIR as an operator account and {verb} "
                                              f"SYMBOL (or, with --all, every instrument: {name}_all); see "
                                              f"docs/market-integrity.md section 11.")
        h.add_argument("symbol", nargs="?")
        h.add_argument("--all", action="store_true", help="the market-wide halt instead of one instrument")
        h.add_argument("--account", required=True, help="the operator account (with CurveZMQ: its key in "
                                                        "DATA_DIR/keys)")
        h.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR",
                       help="the venue's state directory (default: %(default)s)")
        h.set_defaults(func=set_halt, halt=name == "halt")

    o = subparsers.add_parser("oracle", help="send an oracle update of an oracle instrument to a running venue "
                                             "(oracle accounts)",
                              description="Log on to the venue of DATA_DIR as an oracle account (serve --oracles) "
                                          "and send one update of SYMBOL's underlying stock: its price per share, "
                                          "the token multiplier (shares per token), its market status and the "
                                          "oracle's own timestamp (docs/market-integrity.md 4 and 6); or, with "
                                          "--file, a price series: one update per JSON line, with the replay "
                                          "command's fields (sym, px, mult, market, ots, ...).")
    o.add_argument("symbol", nargs="?")
    o.add_argument("--file", type=Path, help="a price series to send, one JSON update per line, in order")
    o.add_argument("--realtime", action="store_true",
                   help="with --file: wait between updates as long as their ots are apart")
    o.add_argument("--px", help="the stock's price per share, a decimal")
    o.add_argument("--mult", default="1", help="shares per token (default: %(default)s)")
    o.add_argument("--market", choices=sorted(MARKET_NAMES), help="the stock's market status")
    o.add_argument("--ots", type=int, help="the oracle's timestamp, ns since the epoch (default: now)")
    o.add_argument("--next-mult", help="a scheduled multiplier (split): needs --mult-at")
    o.add_argument("--mult-at", type=int, help="oracle time (ns) from which --next-mult applies")
    o.add_argument("--reg-open", type=int, help="the regular session's start, ns (required with --market regular)")
    o.add_argument("--reg-close", type=int, help="the regular session's end, ns (required with --market regular)")
    o.add_argument("--account", required=True, help="the oracle account (with CurveZMQ: its key in DATA_DIR/keys)")
    o.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR",
                   help="the venue's state directory (default: %(default)s)")
    o.set_defaults(func=send_oracle)

    register_balances(subparsers, d)

    from kabuto.cli import journal as journal_cli
    journal_cli.register(subparsers)


def register_balances(subparsers, d: C.GatewayConfig) -> None:
    """kabuto deposit, withdraw and balances: a venue with risk on (docs/balances.md 14)."""
    dep = subparsers.add_parser("deposit", help="credit an account on a running venue with risk on (operators, "
                                                "the embedded custodian)",
                                description="Log on to the venue of DATA_DIR as an operator account (serve "
                                            "--operators) and credit ACCOUNT with AMOUNT of ASSET; the venue gives "
                                            "the deposit the next deposit id (docs/balances.md 4).")
    dep.add_argument("target", metavar="ACCOUNT", help="the account credited (@fees included)")
    dep.add_argument("asset")
    dep.add_argument("amount", help="a decimal with at most the asset's decimals")
    wd = subparsers.add_parser("withdraw", help="withdraw from an account on a running venue with risk on",
                               description="Log on to the venue of DATA_DIR as --account and withdraw AMOUNT of ASSET "
                                           "from its own available funds (an operator may name another account "
                                           "with --from, @fees included).")
    wd.add_argument("asset")
    wd.add_argument("amount", help="a decimal with at most the asset's decimals")
    wd.add_argument("--from", dest="target", metavar="ACCOUNT",
                    help="operators: withdraw from this account instead of their own")
    bal = subparsers.add_parser("balances", help="an account's total and held per asset on a running venue with "
                                                 "risk on",
                                description="Log on to the venue of DATA_DIR as --account and print the total and "
                                            "held of every asset ACCOUNT (default: --account itself; another "
                                            "account's for operators only) holds some of.")
    bal.add_argument("target", metavar="ACCOUNT", nargs="?")
    for p, func in ((dep, send_deposit), (wd, send_withdraw), (bal, show_balances)):
        p.add_argument("--account", required=True, help="the account to log on as (with CurveZMQ: its key in "
                                                        "DATA_DIR/keys)")
        p.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR",
                       help="the venue's state directory (default: %(default)s)")
        p.set_defaults(func=func)


def config_from_args(args: argparse.Namespace) -> C.GatewayConfig:
    """The frozen gateway configuration of parsed serve options."""
    return C.GatewayConfig(
        data_dir=args.data_dir, instruments=args.instruments, orders=args.orders, market_data=args.market_data,
        snapshots=args.snapshots, insecure=args.insecure, keys=args.keys, cod_timeout=args.cod_timeout,
        rate_limit=args.rate_limit, max_live_orders=args.max_live_orders, max_frame=args.max_frame,
        max_batch=args.max_batch, md_heartbeat=args.md_heartbeat, batch_target=args.batch_target,
        operators=tuple(args.operators), oracles=tuple(args.oracles), l3=args.l3)


def load_sink(spec: str, instruments, data_dir: Path):
    """An event sink from a MODULE:FACTORY spec."""
    module, _, name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"--sink {spec}: {e}") from None
    return factory(instruments, data_dir)


def venue_risk(args: argparse.Namespace, path: str | None):
    """The venue's instruments and balances configuration: risk on by the file or --risk, unless the data
    directory's journal says otherwise (recovery replays with the setting the journal was written with)."""
    import dataclasses

    from kabuto.durability.recovery import recorded_risk
    from kabuto.engine.instruments import load_config
    instruments, risk = load_config(path, args.risk)
    recorded = None if args.no_journal else recorded_risk(args.data_dir)
    if recorded is not None and recorded != risk.enabled:
        log.warning(f"the journal in {args.data_dir} was written with risk {'on' if recorded else 'off'}: "
                    f"the venue runs with risk {'on' if recorded else 'off'}")
        risk = load_config(path, True)[1] if recorded else dataclasses.replace(risk, enabled=False)
    return instruments, risk


def serve(args: argparse.Namespace) -> int:
    """Run the venue until SIGINT or SIGTERM."""
    from kabuto.gateway.server import Server
    config = config_from_args(args)
    instruments, risk = venue_risk(args, str(config.instruments) if config.instruments else None)
    sinks = [load_sink(spec, instruments, config.data_dir) for spec in args.sink]
    journal = None if args.no_journal else durability(args, instruments, risk)
    server = Server(config, instruments, journal=journal, sinks=sinks, risk=risk)
    if not args.no_chain:  # the embedded default: fills batched to a local ledger, or also to an EVM node
        from kabuto.cli.chain import make_batcher
        args.ledger = args.ledger or config.data_dir / "chain"
        accounts = server.entry.accounts.by_id
        server.sinks.append(make_batcher(args, instruments, lambda i: accounts[i].name, risk=risk))
        log.info(f"chain       fill batches to {args.ledger}" + (f" and {args.chain_rpc}" if args.chain_rpc else ""))
    if journal is not None:
        server.sinks.append(journal)  # the running event hash and snapshots follow every batch
    children = []  # the adapter processes
    try:
        ep = server.bind()  # recovery may publish (cancel-on-disconnect); no frame is read before run()
        if journal is not None:
            log.info(f"journal     {journal.jdir} (fsync {' '.join(args.fsync)}): {journal.recover(server)}")
        mode = "plain text (--insecure)" if config.insecure else "CurveZMQ"
        log.info(f"orders      {ep['orders']} ({mode})")
        log.info(f"market data {ep['market_data']}")
        log.info(f"snapshots   {ep['snapshots']}")
        if config.insecure:
            log.warning("WARNING: no encryption or authentication; any local process can trade for any account")
        else:
            log.info(f"server key  {server.server_public.decode()}; client keys {config.key_file}")
        log.info(f"endpoints   {config.data_dir / 'endpoints.json'}")
        feed = start_vault_feed(args, server)
        children += adapters.start(args, config.data_dir)  # --rest, --fix: they log on once run() serves
        start_observers(args, server, journal)
        signal.signal(signal.SIGINT, lambda *_: adapters.stop_then(children, server.stop, server.housekeeping))
        signal.signal(signal.SIGTERM, lambda *_: adapters.stop_then(children, server.stop, server.housekeeping))
        if journal is not None:
            signal.signal(signal.SIGUSR1, lambda *_: journal.request_snapshot())
        if server.risk is not None:
            log.info(f"risk        on: balances, holds and fees; assets {', '.join(a.name for a in risk.assets)}")
        log.info(f"ready: {len(instruments)} instruments ({', '.join(server.symbols)}); SIGINT or SIGTERM stops")
        server.run()
    except BaseException:
        adapters.stop(children)
        try:
            server.close()
        except Exception as e:  # the error that stopped the venue is the one to report
            log.error(f"stopping after an error, also: {e}")
        raise
    adapters.stop(children)
    if feed is not None:
        feed.stop()
    server.close()
    log.info(f"stopped after {server.engine.seq} events")
    return 0


def listen_address(text: str) -> tuple[str, int]:
    """The argparse type of an observer's [HOST:]PORT option: (host, port), PORT alone on loopback."""
    from kabuto.gateway.metrics import parse_address
    try:
        return parse_address(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def start_observers(args: argparse.Namespace, server, journal) -> None:
    """--metrics (an HTTP thread) and --dashboard (a process of its own): issue 16, off the matching path."""
    if args.metrics is not None:
        from kabuto.gateway.metrics import serve_metrics
        chain = next((s for s in server.sinks if hasattr(s, "committed_seq")), None)  # the chain batcher
        log.info(f"metrics     {serve_metrics(args.metrics, server, journal, chain)}")
    if args.dashboard is not None:
        from kabuto.adapters.dashboard.process import serve_dashboard
        ledger = None if args.no_chain else args.ledger
        log.info(f"dashboard   {serve_dashboard(args.dashboard, server, ledger)}")


def start_vault_feed(args: argparse.Namespace, server):
    """Risk on with --chain-rpc: the vault's confirmed deposits become deposit commands, its freeze stops the
    venue (docs/balances.md 13.2, 13.6); None for the embedded custodian."""
    if server.risk is None or args.no_chain or not args.chain_rpc:
        return None
    from kabuto.chain.contract import connect
    from kabuto.chain.vault import DepositWatcher, Vault
    from kabuto.chain.vault_feed import VaultFeed
    from kabuto.cli.chain import contract_address
    from kabuto.engine.state import M_DEP
    if args.confirmations < 1 or args.deposit_poll <= 0:
        raise ConfigError("--confirmations must be at least 1 and --deposit-poll positive")
    vault = Vault(connect(args.chain_rpc), contract_address(args))
    feed = VaultFeed(DepositWatcher(vault, lambda: 0, args.confirmations), int(server.engine.state.meta[M_DEP]),
                     args.deposit_poll)
    entry, assets = server.entry, {a.name: (i, a.decimals) for i, a in enumerate(server.risk.assets)}
    entry.vault = True

    def take() -> None:
        for d in feed.take():
            asset, decimals = assets.get(d.asset, (-1, d.decimals))
            amount = d.amount * 10 ** (decimals - d.decimals) if decimals >= d.decimals else (
                d.amount // 10 ** (d.decimals - decimals) if d.amount % 10 ** (d.decimals - decimals) == 0 else 0)
            entry.vault_deposit(d.id, d.account, asset, amount)
            log.info(f"deposit     vault deposit {d.id}: {d.account} {d.asset} (tx {d.tx}, block {d.block})")
        if feed.frozen and not entry.frozen:
            entry.frozen = True
            log.warning("frozen      the vault is frozen: every command is refused `frozen` from now on")

    server.housekeeping.append(take)
    log.info(f"custody     vault {vault.address}: deposits after id {feed.watcher.consumed()} once "
             f"{args.confirmations} confirmations")
    try:  # a venue restarted after the freeze refuses from its first frame, not from the feed's first round
        feed.poll()
    except Exception as e:
        log.warning(f"custody     cannot read the vault yet ({type(e).__name__}: {e}); the feed retries")
    take()
    feed.start()
    return feed


def durability(args: argparse.Namespace, instruments, risk=None):
    """The journal and snapshots of a serve command line (durability/recovery.py)."""
    from kabuto.durability.recovery import Durability
    f = args.fsync
    if f == ["always"] or f == ["off"]:
        policy, ms = f[0], 0.0
    elif len(f) == 2 and f[0] == "batch-ms" and f[1].replace(".", "", 1).isdigit() and float(f[1]) > 0:
        policy, ms = "batch", float(f[1])
    else:
        raise ConfigError(f"--fsync {' '.join(f)}: use always, off or batch-ms N (N > 0)")
    if args.snapshot_every < 0:
        raise ConfigError("--snapshot-every must be 0 (never) or positive")
    if args.segment_bytes < 1:
        raise ConfigError("--segment-bytes must be positive")
    text = None
    if args.instruments is not None:
        try:
            text = Path(args.instruments).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read instruments file {args.instruments}: {e.strerror}") from None
    return Durability(args.data_dir, instruments, text, policy, ms, args.snapshot_every, args.segment_bytes,
                      prune_journal=args.prune_journal, truncate_corrupt_tail=args.truncate_corrupt_tail, risk=risk)


def set_reference(args: argparse.Namespace) -> int:
    """Send one `ref` to a running venue and print the band it set."""
    from kabuto.gateway.client import Client
    with Client.from_data_dir(args.data_dir, args.account) as c:
        _, _, sym, px, lo, hi = c.wait_reply(c.ref(args.symbol, args.price))
    band = f"band {lo} .. {hi}" if lo is not None else "no band on this instrument"
    print(f"kabuto ref: {sym} reference {px}: {band}")
    return 0


def rejections(client, req: int) -> list:
    """The rejected reports the venue sent for one request."""
    return [r for r in client.reports if r.req == req and r.ev == "rejected"]


def set_halt(args: argparse.Namespace) -> int:
    """Send one halt, resume, halt_all or resume_all to a running venue and say what it answered."""
    from kabuto.gateway.client import Client
    if args.all == (args.symbol is not None):
        print(f"kabuto {'halt' if args.halt else 'resume'}: name one SYMBOL or --all", file=sys.stderr)
        return 2
    with Client.from_data_dir(args.data_dir, args.account) as c:
        req = c.halt(args.symbol) if args.halt else c.resume(args.symbol)
        answer = c.wait_reply(req)
        refused = rejections(c, req)
    what = f"{answer[0]} {args.symbol}" if args.symbol else answer[0]
    if refused:
        print(f"kabuto {answer[0]}: {what} refused: {refused[0].reason}", file=sys.stderr)
        return 1
    print(f"kabuto {answer[0]}: {what} done")
    return 0


def send_oracle(args: argparse.Namespace) -> int:
    """Send one oracle update, or a series of them, to a running venue and say what it answered."""
    from kabuto.gateway.client import Client
    if args.file is not None:
        return send_oracle_series(args)
    if args.symbol is None or args.px is None or args.market is None:
        print("kabuto oracle: name SYMBOL, --px and --market (or give --file)", file=sys.stderr)
        return 2
    more = {k: v for k, v in (("next_mult", args.next_mult), ("mult_at", args.mult_at), ("reg_open", args.reg_open),
                              ("reg_close", args.reg_close)) if v is not None}
    ots = args.ots if args.ots is not None else time.time_ns()
    with Client.from_data_dir(args.data_dir, args.account) as c:
        req = c.oracle(args.symbol, args.px, args.mult, args.market, ots, **more)
        answer = c.wait_reply(req)
        refused = rejections(c, req)
    if answer[0] == "error":
        print(f"kabuto oracle: {args.symbol} refused: {answer[2]}: {answer[3]}", file=sys.stderr)
        return 1
    if refused:
        print(f"kabuto oracle: {args.symbol} refused: {refused[0].reason}", file=sys.stderr)
        return 1
    print(f"kabuto oracle: {args.symbol} {args.px} x {args.mult} ({args.market}) sent")
    return 0


def send_oracle_series(args: argparse.Namespace) -> int:
    """Send every update of a JSON Lines price series in order; count what the venue took and refused."""
    from kabuto.gateway import protocol as P
    from kabuto.gateway.client import Client
    from kabuto.gateway.errors import ClientError
    try:
        lines = [line for line in args.file.read_text().splitlines() if line.strip()]
    except OSError as e:
        raise ConfigError(f"cannot read {args.file}: {e.strerror}") from None
    sent = refused = 0
    last_ots = None
    with Client.from_data_dir(args.data_dir, args.account) as c:
        for n, line in enumerate(lines, 1):
            try:
                update = json.loads(line)
            except ValueError:
                update = None
            if not isinstance(update, dict):
                print(f"kabuto oracle: {args.file}:{n}: not a JSON object, skipped", file=sys.stderr)
                refused += 1
                continue
            update.pop("op", None)
            update.pop("ts", None)
            ots = update.get("ots")
            if args.realtime and type(ots) is int and last_ots is not None and ots > last_ots:
                time.sleep(min((ots - last_ots) / 1e9, 3600.0))
            last_ots = ots if type(ots) is int else last_ots
            req = c.next_req()
            c.send([P.ORACLE, req, update])
            try:
                c.wait_reply(req)
            except ClientError as e:
                print(f"kabuto oracle: {args.file}:{n}: refused: {e}", file=sys.stderr)
                refused += 1
                continue
            bad = rejections(c, req)
            if bad:
                print(f"kabuto oracle: {args.file}:{n}: rejected: {bad[0].reason}", file=sys.stderr)
                refused += 1
            else:
                sent += 1
    print(f"kabuto oracle: {sent} updates taken, {refused} refused")
    return 0 if not refused else 1


def send_deposit(args: argparse.Namespace) -> int:
    """Send one deposit to a running venue and say what it answered."""
    from kabuto.gateway.client import Client
    with Client.from_data_dir(args.data_dir, args.account) as c:
        req = c.deposit(args.target, args.asset, args.amount)
        _, _, account, dep = c.wait_reply(req)
        refused = rejections(c, req)
    if refused:
        print(f"kabuto deposit: deposit {dep} of {args.amount} {args.asset} to {account} rejected: "
              f"{refused[0].reason}", file=sys.stderr)
        return 1
    print(f"kabuto deposit: deposit {dep}: {args.amount} {args.asset} credited to {account}")
    return 0


def send_withdraw(args: argparse.Namespace) -> int:
    """Send one withdrawal to a running venue and say what it answered."""
    from kabuto.gateway.client import Client
    with Client.from_data_dir(args.data_dir, args.account) as c:
        req = c.withdraw(args.asset, args.amount, args.target)
        _, _, account, wid = c.wait_reply(req)
        refused = rejections(c, req)
    if wid is None:
        why = refused[0].reason if refused else "rejected"
        print(f"kabuto withdraw: {args.amount} {args.asset} from {account} rejected: {why}", file=sys.stderr)
        return 1
    print(f"kabuto withdraw: withdrawal {wid}: {args.amount} {args.asset} from {account}")
    return 0


def show_balances(args: argparse.Namespace) -> int:
    """Print an account's balances on a running venue: one line per asset, total and held."""
    from kabuto.gateway.client import Client
    with Client.from_data_dir(args.data_dir, args.account) as c:
        balances = c.balances(args.target)
    name = args.target or args.account
    if not balances:
        print(f"kabuto balances: {name} holds nothing")
    for asset, (total, held) in balances.items():
        print(f"{name} {asset} total {total} held {held}")
    return 0


def keygen(args: argparse.Namespace) -> int:
    """Create and register a client key pair."""
    from kabuto.gateway.keys import add_client
    key_file = args.keys if args.keys is not None else args.data_dir / "clients.toml"
    secret = add_client(args.data_dir, key_file, args.account)
    print(f"kabuto keygen: {secret} (secret, keep it private); public key added to {key_file}", file=sys.stdout)
    return 0
