"""Event log encoder: event records -> JSON Lines text, and the final book as JSON."""
from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from kabuto.engine.assets import Risk, amount_text, rate_text
from kabuto.engine.codes import (
    MARKET_NAMES,
    ORACLE_STATE_NAMES,
    REASON_NAMES,
    REF_SOURCE_NAMES,
    STATUS_NAMES,
    STATUS_REASON_NAMES,
    Ev,
    Flag,
    Reason,
    Status,
)
from kabuto.engine.errors import InputError
from kabuto.engine.instruments import Instrument
from kabuto.engine.oracle import mult_text
from kabuto.replay import fastencode
from kabuto.replay.accounts import Accounts

ACCEPTED, FILL, CANCELED, AMENDED, REJECTED = (int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED),
                                              int(Ev.AMENDED), int(Ev.REJECTED))
STATUS, INDICATIVE, UNCROSS = int(Ev.STATUS), int(Ev.INDICATIVE), int(Ev.UNCROSS)
ORACLE, BAND = int(Ev.ORACLE), int(Ev.BAND)
MARKETS = {int(v): json.dumps(k) for k, v in MARKET_NAMES.items()}
ORACLE_STATES = {int(k): json.dumps(v) for k, v in ORACLE_STATE_NAMES.items()}
REF_SOURCES = {int(k): json.dumps(v) for k, v in REF_SOURCE_NAMES.items()}
HAS_TS, HAS_PX, HAS_OID, BAND_ON = int(Flag.HAS_TS), int(Flag.HAS_PX), int(Flag.HAS_OID), int(Flag.BAND_ON)
STATUSES = {int(k): json.dumps(v) for k, v in STATUS_NAMES.items()}
STATUS_REASONS = {int(k): json.dumps(v) for k, v in STATUS_REASON_NAMES.items()}
TIMED = (int(Status.LIMIT_UP), int(Status.LIMIT_DOWN), int(Status.CALL))  # a status event with an `until`
MALFORMED = int(Reason.MALFORMED)
REASONS = {int(k): json.dumps(v) for k, v in REASON_NAMES.items()}
SIDES = ('"buy"', '"sell"', "null")
# balances (docs/balances.md 8)
DEPOSITED, WITHDRAWN, BALANCE, FEES_EV, TIER_EV = (int(Ev.DEPOSITED), int(Ev.WITHDRAWN), int(Ev.BALANCE),
                                                   int(Ev.FEES), int(Ev.TIER))
FEES_FLAG, DEP = int(Flag.FEES), int(Flag.DEP)


def sort_balances(events: np.ndarray, names) -> np.ndarray:
    """events with each run of consecutive BALANCE events (a command's, which the engines emit last, by
    account id then asset id) put in the contract's order: account name, then asset name, both by code
    point (docs/balances.md 8); asset ids already follow their names. names: account id -> name."""
    bal = np.flatnonzero(events["kind"] == BALANCE)
    if len(bal) < 2:
        return events
    run = np.cumsum(np.concatenate(([1], np.diff(bal) != 1)))
    accts = events["acct"][bal]
    uniq = np.unique(accts)
    order = sorted(range(len(uniq)), key=lambda i: names[int(uniq[i])])
    rank_of_uniq = np.empty(len(uniq), np.int64)
    rank_of_uniq[order] = np.arange(len(uniq))
    rank = rank_of_uniq[np.searchsorted(uniq, accts)]
    perm = bal[np.lexsort((events["sym"][bal], rank, run))]
    if (perm == bal).all():
        return events
    idx = np.arange(len(events))
    idx[bal] = perm
    return events[idx]


class Encoder:
    """Formats event records as the replay contract's JSON lines."""

    def __init__(self, instruments: Sequence[Instrument], accounts: Accounts, risk: Risk | None = None):
        self.instruments = list(instruments)
        self.accounts = accounts
        # balances (docs/balances.md 8): asset names and decimals, each instrument's quote decimals
        self.risk = risk if risk is not None and risk.enabled else None
        assets = self.risk.assets if self.risk else ()
        self._assets = [json.dumps(a.name) for a in assets]
        self._dec = [a.decimals for a in assets]
        self._fee_dec = [self._dec[q] for q in self.risk.quote] if self.risk else [0] * len(self.instruments)
        self._syms = [json.dumps(i.symbol) for i in self.instruments]
        self._px = [i.px.text for i in self.instruments]
        self._qty = [i.qty.text for i in self.instruments]
        self._acct: list[str] = []
        syms = [x.encode() for x in self._syms]
        self._tables = (np.frombuffer(b"".join(syms), np.uint8), np.cumsum([0] + [len(x) for x in syms]),
                        np.array([i.px.step_units for i in self.instruments], np.int64),
                        np.array([i.px.places for i in self.instruments], np.int64),
                        np.array([i.qty.step_units for i in self.instruments], np.int64),
                        np.array([i.qty.places for i in self.instruments], np.int64))
        reasons = [REASONS.get(r, '""').encode() for r in range(max(REASONS) + 1)]
        self._reasons = (np.frombuffer(b"".join(reasons), np.uint8), np.cumsum([0] + [len(x) for x in reasons]))
        names = [x.encode() for x in self._assets] or [b'""']
        self._asset_tables = (np.frombuffer(b"".join(names), np.uint8), np.cumsum([0] + [len(x) for x in names]),
                              np.array(self._dec or [0], np.int64), np.array(self._fee_dec or [0], np.int64))

    def _acct_json(self, i: int) -> str:
        cache = self._acct
        names = self.accounts.names
        while len(cache) < len(names):
            cache.append(json.dumps(names[len(cache)]))
        return cache[i]

    def encode_bytes(self, events: np.ndarray, first_seq: int, accounts: tuple | None = None) -> bytes:
        """The same text as encode(), written by the numba encoder; accounts: a json_table() taken
        when the events' commands were decoded (another thread may be adding names meanwhile)."""
        if not len(events):
            return b""
        acct_json, acct_off = accounts if accounts is not None else self.accounts.json_table()
        if self.risk is not None:
            events = sort_balances(events, self.accounts.names)
        widest = int(np.diff(acct_off).max()) if len(acct_off) > 1 else 0
        widest_asset = int(np.diff(self._asset_tables[1]).max())
        # an indicative event has five decimals; every line at most one symbol or asset and two account names
        out = np.empty(len(events) * (512 + 2 * widest + int(np.diff(self._tables[1]).max()) + widest_asset),
                       np.uint8)
        n = fastencode.encode(events, first_seq, out, *self._tables, acct_json, acct_off, *self._reasons,
                              *self._asset_tables)
        return out[:n].tobytes()

    def encode(self, events: np.ndarray, first_seq: int) -> str:
        """JSON lines (each ending in LF) for events, the first numbered first_seq."""
        out = []
        add = out.append
        syms, pxt, qtyt = self._syms, self._px, self._qty
        assets, dec, fee_dec = self._assets, self._dec, self._fee_dec
        if self.risk is not None:
            events = sort_balances(events, self.accounts.names)
        seq = first_seq
        for kind, reason, side, flags, sym, oid, px, qty, open_, maker, macct, acct, ts, line in events.tolist():
            if kind == FILL:
                s = (f'{{"seq":{seq},"ev":"fill","sym":{syms[sym]},"px":"{pxt[sym](px)}","qty":"{qtyt[sym](qty)}",'
                     f'"maker":{maker},"taker":{oid},"taker_side":{SIDES[side]},'
                     f'"maker_acct":{self._acct_json(macct)},"taker_acct":{self._acct_json(acct)}')
                if flags & FEES_FLAG:
                    s += (f',"maker_fee":"{amount_text(open_, fee_dec[sym])}"'
                          f',"taker_fee":"{amount_text(line, fee_dec[sym])}"')
            elif kind == BALANCE:
                s = (f'{{"seq":{seq},"ev":"balance","acct":{self._acct_json(acct)},"asset":{assets[sym]},'
                     f'"total":"{amount_text(qty, dec[sym])}","held":"{amount_text(open_, dec[sym])}"')
            elif kind == DEPOSITED or kind == WITHDRAWN:
                s = (f'{{"seq":{seq},"ev":"{"deposited" if kind == DEPOSITED else "withdrawn"}",'
                     f'"{"dep" if kind == DEPOSITED else "wid"}":{oid},"acct":{self._acct_json(acct)},'
                     f'"asset":{assets[sym]},"amount":"{amount_text(qty, dec[sym])}"')
            elif kind == FEES_EV:
                s = (f'{{"seq":{seq},"ev":"fees","tier":{oid},"maker_bps":"{rate_text(px)}",'
                     f'"taker_bps":"{rate_text(qty)}"')
            elif kind == TIER_EV:
                s = f'{{"seq":{seq},"ev":"tier","acct":{self._acct_json(acct)},"tier":{oid}'
            elif kind == ACCEPTED:
                p = f'"{pxt[sym](px)}"' if flags & HAS_PX else "null"
                s = (f'{{"seq":{seq},"ev":"accepted","oid":{oid},"sym":{syms[sym]},"side":{SIDES[side]},'
                     f'"px":{p},"qty":"{qtyt[sym](qty)}"')
            elif kind == CANCELED:
                s = (f'{{"seq":{seq},"ev":"canceled","oid":{oid},"qty":"{qtyt[sym](qty)}",'
                     f'"open":"{qtyt[sym](open_)}","reason":{REASONS[reason]}')
            elif kind == AMENDED:
                s = f'{{"seq":{seq},"ev":"amended","oid":{oid},"px":"{pxt[sym](px)}","qty":"{qtyt[sym](qty)}"'
            elif kind == STATUS:
                until = open_ if side in TIMED else "null"
                s = (f'{{"seq":{seq},"ev":"status","sym":{syms[sym]},"status":{STATUSES[side]},'
                     f'"reason":{STATUS_REASONS[reason]},"until":{until}')
            elif kind == INDICATIVE:
                p = f'"{pxt[sym](px)}"' if flags & HAS_PX else "null"
                lo, hi = (f'"{pxt[sym](maker)}"', f'"{pxt[sym](macct)}"') if flags & BAND_ON else ("null", "null")
                s = (f'{{"seq":{seq},"ev":"indicative","sym":{syms[sym]},"px":{p},"matched":"{qtyt[sym](qty)}",'
                     f'"imbalance":"{qtyt[sym](open_)}","imb_side":{SIDES[side]},"lo":{lo},"hi":{hi},"until":{acct}')
            elif kind == ORACLE:
                s = (f'{{"seq":{seq},"ev":"oracle","sym":{syms[sym]},"ref":"{pxt[sym](px)}",'
                     f'"mult":"{mult_text(qty, maker)}","market":{MARKETS[side]},"ots":{open_},'
                     f'"state":{ORACLE_STATES[reason]}')
            elif kind == BAND:
                s = (f'{{"seq":{seq},"ev":"band","sym":{syms[sym]},"ref":"{pxt[sym](px)}","lo":"{pxt[sym](maker)}",'
                     f'"hi":"{pxt[sym](macct)}","source":{REF_SOURCES[reason]}')
            elif kind == UNCROSS:
                s = f'{{"seq":{seq},"ev":"uncross","sym":{syms[sym]},"px":"{pxt[sym](px)}","qty":"{qtyt[sym](qty)}"'
            else:
                s = f'{{"seq":{seq},"ev":"rejected","reason":{REASONS[reason]}'
                if reason == MALFORMED:
                    s += f',"line":{line}'
                elif flags & HAS_OID:
                    s += f',"oid":{oid}'
                elif flags & DEP:
                    s += f',"dep":{oid}'
            if flags & HAS_TS:
                s += f',"ts":{ts}'
            add(s)
            seq += 1
        if not out:
            return ""
        return "}\n".join(out) + "}\n"


def book_json(engine, instruments: Sequence[Instrument], risk: Risk | None = None) -> str:
    """The final book of every instrument as the replay contract's JSON object; with risk on, then
    "@assets" and "@balances" (docs/balances.md 12), from engine.asset_sums(), engine.balances() and the
    account names of engine.accounts."""
    doc: dict = {}
    for i, ins in enumerate(instruments):
        bids, asks = engine.book(i)
        doc[ins.symbol] = {
            "bids": [[ins.px.text(p), ins.qty.text(q)] for p, q in bids],
            "asks": [[ins.px.text(p), ins.qty.text(q)] for p, q in asks],
        }
    if risk is not None and risk.enabled:
        sums = engine.asset_sums()
        doc["@assets"] = {a.name: {"decimals": a.decimals, "deposited": amount_text(sums[i][0], a.decimals),
                                   "withdrawn": amount_text(sums[i][1], a.decimals)}
                          for i, a in enumerate(risk.assets)}
        names = engine.accounts.names
        held: dict[str, dict[str, dict[str, str]]] = {}
        for (acct, asset), (total, hold) in engine.balances().items():
            if total:
                a = risk.assets[asset]
                held.setdefault(names[acct], {})[a.name] = {"total": amount_text(total, a.decimals),
                                                           "held": amount_text(hold, a.decimals)}
        doc["@balances"] = {name: dict(sorted(held[name].items())) for name in sorted(held)}
    return json.dumps(doc)


def write_book(path: str, engine, instruments: Sequence[Instrument], risk: Risk | None = None) -> None:
    """Write the final book JSON to path; a file that cannot be written is a one-line InputError."""
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(book_json(engine, instruments, risk) + "\n")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
