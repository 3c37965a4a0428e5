"""Balances survive kill -9 (docs/balances.md 14): a venue with risk on is killed at a few points of a session of
deposits, trades with fees, withdrawals and rejects; after the restart every asset is conserved, no acknowledged
credit, debit or withdrawal is lost, and everything the venue printed (before and after) is a replay of its journal.
Also: the journal keeps the venue's risk setting whatever the command line says, and snapshots carry balances."""
from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
from journalkit import KABUTO, Serve
from kabuto.durability.journal import JournalReader
from kabuto.durability.recovery import ZERO_HASH, apply_records, journal_engine, recover_state
from kabuto.durability.snapshot import capture, decode, encode
from kabuto.engine.assets import amount_text
from kabuto.engine.codes import Ev
from kabuto.engine.engine import Engine
from kabuto.engine.instruments import load_config
from kabuto.engine.state import M_DEP, M_WID, State
from kabuto.gateway.client import Client
from kabuto.gateway.errors import ClientError
from recording_sink import runs

from tests.polling import wait_until

# the instruments file says nothing of risk: the first start says --risk, the journal remembers it
INSTRUMENTS = """
[[asset]]
symbol = "USD"
decimals = 6

[[asset]]
symbol = "TSLAx"
decimals = 3

[[fee_tier]]
tier = 0
maker_bps = "-1"
taker_bps = "5"

[[instrument]]
symbol = "TSLAx-USD"
tick_size = "0.01"
lot_size = "0.001"
band_pct = "10"
reference_price = "250.00"
"""
SYM = "TSLAx-USD"
TRADERS = ("alice", "bob", "carol")
OP = "op"


def venue_files(tmp_path: Path) -> tuple[Path, Path]:
    data, inst = tmp_path / "venue", tmp_path / "inst.toml"
    inst.write_text(INSTRUMENTS)
    data.mkdir()
    return data, inst


class Session:
    """An operator depositing and three traders trading, withdrawing and canceling, all pipelined from one
    thread (nothing waits for an answer); keeps what each client was told."""

    def __init__(self, data: Path, seed: int):
        self.rng = random.Random(seed)
        self.op = Client.from_data_dir(data, OP, heartbeat=0.3)
        self.traders = {name: Client.from_data_dir(data, name, heartbeat=0.3) for name in TRADERS}
        self.deposits: dict[int, tuple[str, str, str]] = {}  # req -> (account, asset, amount)
        self.withdrawals: dict[tuple[str, int], tuple[str, str]] = {}  # (account, req) -> (asset, amount)
        self.live: dict[str, list] = {name: [] for name in TRADERS}

    def step(self) -> None:
        rng, name = self.rng, self.rng.choice(TRADERS)
        c = self.traders[name]
        x = rng.random()
        if x < 0.2:
            asset, amount = rng.choice((("USD", "1000"), ("USD", "250.5"), ("TSLAx", "4"), ("TSLAx", "0.75")))
            self.deposits[self.op.deposit(name, asset, amount)] = (name, asset, amount)
        elif x < 0.3:
            asset, amount = rng.choice((("USD", "10"), ("USD", "0.000001"), ("TSLAx", "0.3")))
            self.withdrawals[(name, c.withdraw(asset, amount))] = (asset, amount)
        elif x < 0.4 and self.live[name]:
            c.cancel(self.live[name].pop(rng.randrange(len(self.live[name]))))
        elif x < 0.5:
            c.new(SYM, rng.choice(("buy", "sell")), f"{rng.randint(1, 900) / 1000:.3f}", type="market",
                  protect=f"{rng.randint(24800, 25200) / 100:.2f}" if rng.random() < 0.5 else None)
        else:
            self.live[name].append(c.new(SYM, rng.choice(("buy", "sell")), f"{rng.randint(1, 2000) / 1000:.3f}",
                                         f"{rng.randint(24900, 25100) / 100:.2f}"))

    def poll(self, timeout: float = 0.0) -> None:
        for c in (self.op, *self.traders.values()):
            c.poll(timeout)

    def close(self) -> None:
        for c in (self.op, *self.traders.values()):
            c.close(logout=False)


def replay(data: Path, instruments) -> tuple[dict, list, Engine]:
    """Every event of the journal's replay by seq, the account names, the engine after it."""
    engine, names, events = journal_engine(data / "journal", instruments), [], {}

    def keep(evs, first, _names):
        events.update(enumerate(evs.copy(), first))
    apply_records(JournalReader(data / "journal").scan(), engine, names, None, ZERO_HASH, keep)
    return events, names, engine


def conserved(engine: Engine) -> None:
    """docs/balances.md 9 (1) and (2) from the engine's balances() and asset_sums()."""
    sums = engine.asset_sums()
    totals = [0] * len(sums)
    for (_acct, asset), (total, held) in engine.balances().items():
        assert 0 <= held <= total
        totals[asset] += total
    for asset, (deposited, withdrawn) in enumerate(sums):
        assert totals[asset] + withdrawn == deposited, f"asset {asset} is not conserved"


@pytest.mark.parametrize("seed,steps,settle", [(1, 25, False), (2, 160, True), (3, 600, True)])
def test_kill9_of_a_risk_on_venue_loses_no_credit_debit_or_withdrawal(tmp_path, monkeypatch, seed, steps, settle):
    """settle: the crash comes once half the deposits sent were answered, with 10 more steps in flight;
    else right after the last step was sent (most of the session in flight)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # the venue loads recording_sink
    data, inst = venue_files(tmp_path)
    args = ["--instruments", str(inst), "--operators", OP, "--snapshot-every", "97", "--sink", "recording_sink:make"]
    serve = Serve(data, [*args, "--risk"])
    s = Session(data, seed)
    try:
        for i in range(steps):
            s.step()
            if i % 7 == 0:
                s.poll()
        if settle:
            assert wait_until(lambda: 2 * sum(r[0] == "deposit" for r in s.op.replies.values()) >= len(s.deposits),
                              poll=[s.op, *s.traders.values()])
            for _ in range(10):
                s.step()
        serve.kill9()  # with commands in flight
        s.poll(0.3)  # what reached the clients before the kill (nothing more can come)
        told = {"op": dict(s.op.replies), **{n: (list(c.reports), list(c.balance_reports), dict(c.replies))
                                             for n, c in s.traders.items()}}
    finally:
        s.close()

    restarted = Serve(data, args)  # no --risk: the journal says the venue runs with risk on
    try:
        assert "was written with risk on" in restarted.text()
        with Client.from_data_dir(data, OP) as op, Client.from_data_dir(data, "alice") as alice:
            _, _, _, dep = op.wait_reply(op.deposit("alice", "USD", "1"))
            alice.wait_balance(lambda r: r.ev == "deposited")
            wid = alice.wait_reply(alice.withdraw("USD", "1"))[3]
            after = alice.balances()
    finally:
        assert restarted.stop() == 0, restarted.text()

    instruments, risk = load_config(str(inst), True)
    events, names, engine = replay(data, instruments)
    conserved(engine)
    asset = {a.name: i for i, a in enumerate(risk.assets)}
    dec = {a.name: a.decimals for a in risk.assets}
    acct = {n: i for i, n in enumerate(names)}
    assert names[0] == "@fees"

    # every deposit the operator was answered is one `deposited` event, credited once, with its amount
    deposited = {int(e["oid"]): e for e in events.values() if e["kind"] == Ev.DEPOSITED}
    answered = {r[3]: s.deposits[req] for req, r in told["op"].items() if r[0] == "deposit"}
    assert answered or not settle
    for d, (name, a, amount) in answered.items():
        e = deposited[d]
        assert (int(e["acct"]), int(e["sym"]), amount_text(int(e["qty"]), dec[a])) == \
            (acct[name], asset[a], amount_text(round(float(amount) * 10 ** dec[a]), dec[a]))
    assert sorted(deposited) == list(range(1, len(deposited) + 1))  # gapless, each id once
    assert dep == len(deposited)  # after the restart the gateway's next deposit id follows the journal's

    # every withdrawal a trader was answered with a wid is one `withdrawn` event of its amount
    withdrawn = {int(e["oid"]): e for e in events.values() if e["kind"] == Ev.WITHDRAWN}
    assert sorted(withdrawn) == list(range(1, len(withdrawn) + 1)) and wid == len(withdrawn)
    for name in TRADERS:
        for req, r in told[name][2].items():
            if r[0] == "withdraw" and r[3] is not None:
                a, amount = s.withdrawals[(name, req)]
                e = withdrawn[r[3]]
                assert (int(e["acct"]), int(e["sym"]), amount_text(int(e["qty"]), dec[a])) == \
                    (acct[name], asset[a], amount_text(round(float(amount) * 10 ** dec[a]), dec[a]))

    # every balance report and fill fee a client received is the replay's event of that seq
    for name in TRADERS:
        reports, balance_reports, _ = told[name]
        for b in balance_reports:
            e = events[b.seq]
            assert int(e["acct"]) == acct[name] and names[int(e["acct"])] == name
            if b.ev == "balance":
                d = dec[b.asset]
                assert (e["kind"], amount_text(int(e["qty"]), d), amount_text(int(e["open"]), d)) == \
                    (Ev.BALANCE, b.total, b.held)
            else:
                assert (int(e["kind"]), int(e["oid"])) == (Ev.DEPOSITED if b.ev == "deposited" else Ev.WITHDRAWN, b.id)
        for r in reports:
            if r.ev == "fill":
                e = events[r.seq]
                fee = int(e["line"]) if r.role == "taker" else int(e["open"])
                assert amount_text(fee, dec["USD"]) == r.fee

    fills = [r for name in TRADERS for r in told[name][0] if r.ev == "fill"]
    assert not settle or (fills and withdrawn), "the session neither traded nor withdrew before the crash"
    assert not settle or any(r.fee.startswith("-") for r in fills)  # rebates too

    # everything the venue printed, before the crash and after the restart, is the journal's replay
    first_run, second_run = runs(data)
    assert second_run and (first_run or not settle)
    for printed in (first_run, second_run):
        assert all(printed[q] == events[q] for q in printed), "the venue printed other events than its replay"

    # the restarted venue's balances are the replay's, and a recovery from the snapshots gives the same state
    alice = acct["alice"]
    assert after == {risk.assets[a].name: [amount_text(t, risk.assets[a].decimals),
                                           amount_text(h, risk.assets[a].decimals)]
                     for (x, a), (t, h) in sorted(engine.balances().items()) if x == alice and t}
    snap = recover_state(data, instruments)
    assert snap.engine.balances() == engine.balances() and snap.engine.asset_sums() == engine.asset_sums()
    assert (snap.engine.state.meta[M_DEP], snap.engine.state.meta[M_WID]) == (len(deposited), len(withdrawn))
    conserved(snap.engine)

    # an export of the journal (deposit, withdraw, protect lines) replays with --risk to the journal's events
    if settle:
        log = tmp_path / "log.jsonl"
        subprocess.run([KABUTO, "journal", "export", str(data), "-o", str(log)], check=True)
        text = log.read_text()
        assert '"op":"deposit"' in text and '"op":"withdraw"' in text and '"protect"' in text
        exported = subprocess.run([KABUTO, "replay", "--instruments", str(inst), "--risk", str(log)], check=True,
                                  capture_output=True, text=True).stdout
        journaled = subprocess.run([KABUTO, "replay", "--instruments", str(inst), str(data)], check=True,
                                   capture_output=True, text=True).stdout
        assert '"ev":"withdrawn"' in journaled

        def kept(text):  # the gateway's own rejects (a cancel of a finished order) have no line: seq and
            # rejected events aside, the two are the same
            return [{k: v for k, v in e.items() if k != "seq"} for e in map(json.loads, text.splitlines())
                    if e["ev"] != "rejected"]
        assert kept(exported) == kept(journaled)


def test_a_journal_written_with_risk_off_keeps_risk_off_with_risk_on_the_command_line(tmp_path):
    data, inst = venue_files(tmp_path)
    serve = Serve(data, ["--instruments", str(inst)])
    with Client.from_data_dir(data, "alice") as c:
        c.new(SYM, "buy", "1", "250.00")  # no funds needed with risk off
        assert c.wait_report().ev == "accepted"
    assert serve.stop() == 0
    serve = Serve(data, ["--instruments", str(inst), "--risk", "--operators", OP])
    try:
        assert "was written with risk off" in serve.text()
        with Client.from_data_dir(data, OP) as op:
            with pytest.raises(ClientError, match="risk off"):
                op.wait_reply(op.deposit("alice", "USD", "1"))
    finally:
        assert serve.stop() == 0, serve.text()


def test_a_snapshot_carries_balances_fees_tiers_counters_and_grown_account_tables():
    from kabuto.replay.accounts import Accounts
    from kabuto.replay.orderlog import Decoder
    instruments, risk = load_config(str(Path(__file__).parents[1] / "risk" / "risk.toml"))
    accounts = Accounts()
    accounts.id("@fees")
    decoder = Decoder(instruments, accounts, risk)
    log = (Path(__file__).parents[1] / "risk" / "log.jsonl").read_bytes().splitlines()
    # 40 more accounts with deposits and resting orders: the account tables grow past their first 16 rows
    more = [b'{"op":"fees","tier":2,"maker_bps":"-0.5","taker_bps":"7"}']
    for i in range(40):
        more.append(b'{"op":"deposit","dep":%d,"acct":"x%d","asset":"USD","amount":"100"}' % (3 + i, i))
        more.append(b'{"op":"tier","acct":"x%d","tier":2}' % i)
        more.append(b'{"op":"new","oid":%d,"acct":"x%d","sym":"TSLAx-USD","side":"buy","type":"limit",'
                    b'"px":"240.00","qty":"0.1"}' % (100 + i, i))
    engine = Engine(instruments, risk=risk, fee_acct=0)
    engine.process(decoder.decode(log + more, 1))
    assert engine.state.a_bal.shape[0] > 16 and engine.live_orders == 40

    snap = decode(encode(_snapshot(engine)))
    for name in State._fields:
        assert np.array_equal(getattr(snap.state, name), getattr(engine.state, name)), name
    twin = Engine(instruments, risk=risk, fee_acct=0)
    twin.state, twin.seq = snap.state, engine.seq
    # the same commands on both: a taker that pays fees against resting orders of their own rates and holds
    tail = [b'{"op":"deposit","dep":43,"acct":"y","asset":"TSLAx","amount":"10"}',
            b'{"op":"new","oid":500,"acct":"y","sym":"TSLAx-USD","side":"sell","type":"limit","px":"240.00",'
            b'"qty":"3"}',
            b'{"op":"withdraw","acct":"x7","asset":"USD","amount":"50"}',
            b'{"op":"deposit","dep":43,"acct":"y","asset":"USD","amount":"1"}']
    cmds = decoder.decode(tail, 1000)
    a, b = engine.process(cmds.copy()).copy(), twin.process(cmds.copy()).copy()
    assert a.tolist() == b.tolist()  # field by field: a numpy copy of records leaves their padding bytes undefined
    assert int(Ev.FILL) in a["kind"] and int(Ev.WITHDRAWN) in a["kind"]
    conserved(twin)


def _snapshot(engine: Engine):
    from kabuto.durability.snapshot import Snapshot
    return Snapshot(1, engine.seq, ZERO_HASH, [i.symbol for i in engine.instruments], capture(engine.state),
                    {"accounts": [], "next_oid": 1, "orders": []})


def test_a_risk_on_venue_commits_balances_and_withdrawals_to_its_ledger(tmp_path):
    from kabuto.chain.ledger import Ledger
    from kabuto.chain.proof import balance_proof, withdrawal_proof
    data, inst = venue_files(tmp_path)
    serve = Serve(data, ["--instruments", str(inst), "--operators", OP, "--risk"], chain=True)
    try:
        with Client.from_data_dir(data, OP) as op, Client.from_data_dir(data, "alice") as alice:
            op.wait_reply(op.deposit("alice", "USD", "100"))
            alice.wait_balance(lambda r: r.ev == "deposited")
            wid = alice.wait_reply(alice.withdraw("USD", "40"))[3]
            assert wid == 1
    finally:
        assert serve.stop() == 0, serve.text()  # a clean stop commits the last batch
    ledger = Ledger(data / "chain")
    w = withdrawal_proof(ledger, 1)["withdrawal"]
    assert (w["account"], w["asset"]) == ("alice", "USD")
    assert balance_proof(ledger, "alice", "USD")["balance"]["total"] == 60_000_000  # 60 USD in units of 10^-6
