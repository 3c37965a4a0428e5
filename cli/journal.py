"""`kabuto journal inspect DIR` and `kabuto journal export DIR`: read a venue's journal without running it."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import msgpack
import numpy as np
from kabuto.durability.journal import JournalError, JournalReader, read_seal, segments
from kabuto.durability.recovery import journal_dir, meta_instruments, meta_risk, read_meta
from kabuto.durability.snapshot import load_newest
from kabuto.engine.assets import amount_text, rate_text
from kabuto.engine.codes import STP_NAMES, TIF_NAMES, Flag, Op, OrdType
from kabuto.engine.instruments import Instrument
from kabuto.engine.oracle import oracle_line
from kabuto.engine.records import COMMAND_DTYPE

NEW, CANCEL, AMEND, REF, REJECT = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND), int(Op.REF), int(Op.REJECT)
HAS_PX, HAS_QTY, HAS_TS, BAND_ON = int(Flag.HAS_PX), int(Flag.HAS_QTY), int(Flag.HAS_TS), int(Flag.BAND_ON)
HALT_TEXT = {int(Op.HALT): "halt", int(Op.RESUME): "resume", int(Op.HALT_ALL): "halt_all",
             int(Op.RESUME_ALL): "resume_all", int(Op.TICK): "tick"}
ORACLE = int(Op.ORACLE)
PROTECT = int(Flag.PROTECT)
DEPOSIT, WITHDRAW, FEES, TIER = int(Op.DEPOSIT), int(Op.WITHDRAW), int(Op.FEES), int(Op.TIER)
BALANCE_TEXT = {DEPOSIT: "deposit", WITHDRAW: "withdraw", FEES: "fees", TIER: "tier"}
OP_TEXT = {NEW: "new", CANCEL: "cancel", AMEND: "amend", REF: "ref", REJECT: "reject", ORACLE: "oracle", **HALT_TEXT,
           **BALANCE_TEXT}
TIF_TEXT = {int(v): k for k, v in TIF_NAMES.items()}
STP_TEXT = {int(v): k for k, v in STP_NAMES.items()}
SIDE_TEXT = ("buy", "sell")


def register(sub) -> None:
    """Add `kabuto journal inspect|export`."""
    p = sub.add_parser("journal", help="inspect a venue's journal or export it as an order log")
    js = p.add_subparsers(dest="journal_command", required=True)
    i = js.add_parser("inspect", help="segments, records, sequence ranges, gaps, checksum errors, snapshots")
    i.add_argument("dir", type=Path, help="journal directory, or the venue's data directory")
    i.set_defaults(func=inspect)
    e = js.add_parser("export", help="the journaled commands as JSON Lines per the order-log spec")
    e.add_argument("dir", type=Path, help="journal directory, or the venue's data directory")
    e.add_argument("-o", "--out", type=Path, help="write here (default: standard output)")
    e.set_defaults(func=export)


def _records(jdir: Path, after: int = 0):
    """(reader, generator of (seq, decoded body)) of a journal directory, from record after + 1."""
    reader = JournalReader(jdir)

    def gen():
        for seq, body in reader.scan(after):
            yield seq, msgpack.unpackb(body)
    return reader, gen()


def inspect(args: argparse.Namespace) -> int:
    """Print what a journal holds; exit 1 when it is corrupt beyond a torn last record."""
    jdir = journal_dir(args.dir)
    meta = read_meta(jdir)
    print(f"journal     {jdir}")
    print(f"instruments {', '.join(s[0] for s in meta['instruments'])}")
    segs = segments(jdir)
    for _, path in segs:
        size = path.stat().st_size
        seal = read_seal(path, size)
        print(f"segment     {path.name}  {size} bytes  " +
              (f"sealed (records {seal.first}..{seal.last})" if seal else "open (no seal: written last, or format 1)"))
    start = segs[0][0] if segs else 1  # > 1: pruned (kabuto serve --prune-journal)
    reader, records = _records(jdir, start - 1)
    ops: Counter = Counter()
    first_seq = first_ev = last_ev = 0
    accounts = 0
    status = 0
    try:
        for seq, (ev_first, _, raw, first_acct, names, _, _) in records:
            first_seq = first_seq or seq
            first_ev = first_ev or ev_first
            cmds = np.frombuffer(raw, COMMAND_DTYPE)
            ops.update(cmds["op"].tolist())
            if names:
                accounts = first_acct + len(names)
            last_ev = ev_first
    except JournalError as e:
        print(f"ERROR       {e}")
        status = 1
    span = f" (sequence {first_seq}..{reader.last_seq}, no gaps)" if reader.records else ""
    print(f"records     {reader.records}" + span
          + (f"; pruned: records before {start} were deleted" if start > 1 else ""))
    print("commands    " + (", ".join(f"{OP_TEXT.get(k, k)} {n}" for k, n in sorted(ops.items())) or "none"))
    print(f"accounts    {accounts}")
    print(f"events      from {first_ev}, last batch starts at event {last_ev}" if last_ev else "events      none")
    print(f"torn tail   {reader.torn}" if reader.torn else "torn tail   none")
    warnings: list[str] = []
    snap = load_newest(jdir.parent / "snapshots", skipped=warnings)
    for w in warnings:
        print(f"snapshot    {w}")
    if snap is not None:
        print(f"snapshot    {snap.path.name}: journal record {snap.journal_seq}, {snap.seq} events, "
              f"{len(snap.gateway['orders'])} live orders, event hash {snap.event_hash.hex()}")
    return status


def _dec(mant: int, exp: int) -> str:
    return format(Decimal(mant).scaleb(exp), "f")


def ref_price(ins: Instrument, ticks: int, band: tuple[int, int] | None) -> str:
    """The shortest decimal price that a `ref` line decodes to the journaled reference command with: rounded
    half up to ticks, and, when the instrument has a band, with the band edges band = (lo, hi) in ticks. The
    operator's price was such a decimal, but the journal keeps only the ticks and edges, and the edges are
    computed from the unrounded price (a ref of 100.005 has the edges of 100.005, not of 100.01)."""
    tick = Fraction(ins.tick_size)
    # the prices that round to ticks: [lo_v, hi_v); lo_open/hi_open say whether each end is excluded
    lo_v, lo_open, hi_v, hi_open = (ticks - Fraction(1, 2)) * tick, False, (ticks + Fraction(1, 2)) * tick, True
    if band is not None:  # ceil(v (1 - p) / tick) = lo and floor(v (1 + p) / tick) = hi (band_edges)
        p, (lo, hi) = Fraction(ins.band_pct) / 100, band
        ends = [((hi * tick / (1 + p), False), ((hi + 1) * tick / (1 + p), True))]
        if p < 1:
            ends.append((((lo - 1) * tick / (1 - p), True), (lo * tick / (1 - p), False)))
        for (a, a_open), (b, b_open) in ends:
            if a > lo_v or (a == lo_v and a_open):
                lo_v, lo_open = a, a_open
            if b < hi_v or (b == hi_v and b_open):
                hi_v, hi_open = b, b_open
    for places in range(41):
        step = Fraction(1, 10 ** places)
        v = -(-lo_v // step) * step  # the smallest multiple of step at or above lo_v
        if v == lo_v and lo_open:
            v += step
        if v < hi_v or (v == hi_v and not hi_open):
            digits = str(int(v * 10 ** places)).rjust(places + 1, "0")
            return digits[:len(digits) - places] + ("." + digits[-places:] if places else "")
    return ins.px.text(ticks)  # no such decimal (a journal this venue did not write): the price in ticks


def export(args: argparse.Namespace) -> int:
    """Write the journal's order commands as order-log JSON lines (gateway rejects have no line)."""
    jdir = journal_dir(args.dir)
    meta = read_meta(jdir)
    instruments = meta_instruments(meta)
    risk = meta_risk(meta)  # risk on: deposits, withdrawals, fees and tiers are lines too (replay them --risk)
    assets = risk.assets if risk is not None else ()
    symbols = [i.symbol for i in instruments]
    try:
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    except OSError as e:
        raise JournalError(f"cannot write {args.out}: {e.strerror}") from None
    names: list[str] = []
    skipped = 0
    reader, records = _records(jdir)
    try:
        for _, (_, _, raw, first_acct, new_names, _, _) in records:
            if new_names:
                names[first_acct:] = new_names
            lines = []
            for c in np.frombuffer(raw, COMMAND_DTYPE).tolist():
                op, side, otype, tif, stp, _, pexp, qexp, flags, _, sym, oid, acct, px, qty, ts, line = c
                if op == NEW:
                    d = {"op": "new", "oid": oid, "acct": names[acct], "sym": symbols[sym], "side": SIDE_TEXT[side],
                         "type": "market" if otype == int(OrdType.MARKET) else "limit"}
                    if otype != int(OrdType.MARKET):
                        d["px"] = _dec(px, pexp)
                    d.update(qty=_dec(qty, qexp), tif=TIF_TEXT.get(tif, tif), stp=STP_TEXT.get(stp, stp))
                    if otype == int(OrdType.MARKET) and flags & PROTECT:
                        d["protect"] = _dec(px, pexp)
                elif op == DEPOSIT:
                    d = {"op": "deposit", "dep": oid, "acct": names[acct], "asset": assets[sym].name,
                         "amount": amount_text(qty, assets[sym].decimals)}
                elif op == WITHDRAW:
                    d = {"op": "withdraw", "acct": names[acct], "asset": assets[sym].name,
                         "amount": amount_text(qty, assets[sym].decimals)}
                elif op == FEES:
                    d = {"op": "fees", "tier": oid, "maker_bps": rate_text(px), "taker_bps": rate_text(qty)}
                elif op == TIER:
                    d = {"op": "tier", "acct": names[acct], "tier": oid}
                elif op == CANCEL:
                    d = {"op": "cancel", "oid": oid}
                elif op == AMEND:
                    d = {"op": "amend", "oid": oid}
                    if flags & HAS_PX:
                        d["px"] = _dec(px, pexp)
                    if flags & HAS_QTY:
                        d["qty"] = _dec(qty, qexp)
                elif op == REF:
                    band = (px, qty) if flags & BAND_ON else None
                    d = {"op": "ref", "sym": symbols[sym], "px": ref_price(instruments[sym], oid, band)}
                elif op == ORACLE:
                    d = oracle_line(instruments[sym], side, oid, acct, line, px, qty, qexp)
                elif op in HALT_TEXT:
                    d = {"op": HALT_TEXT[op]}
                    if sym >= 0:
                        d["sym"] = symbols[sym]
                else:  # rejected by the gateway before the engine (rate limit, unknown order...): no order-log line
                    skipped += 1
                    continue
                if flags & HAS_TS:
                    d["ts"] = ts
                lines.append(json.dumps(d, separators=(",", ":")))
            if lines:
                out.write("\n".join(lines) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if skipped:
        print(f"kabuto journal export: {skipped} gateway rejects have no order-log line and were left out",
              file=sys.stderr)
    if reader.torn:
        print(f"kabuto journal export: {reader.torn} (not exported)", file=sys.stderr)
    return 0

