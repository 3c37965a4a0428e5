"""Session stage: sessions, throttles and order ownership; order commands -> command records.

Transport-neutral: a wire adapter (the ZeroMQ gateway today) decodes its messages into the calls
below and answers its clients itself; what this stage refuses outright raises Refused.

Client order ids live per account; the gateway allocates the venue-wide engine order id behind each.
A `new` whose client order id is live reuses that order's engine id, so the kernel itself reports
`duplicate_oid` after the price, quantity and band checks that come first in the spec's order
(or accepts it, when the old order finished earlier in the same batch). A client order id whose
cancel is already sequenced is free again: the new order gets an engine id of its own.

The live-order cap is counted in command order: `_held` is what an account holds at the current
point of the batch being collected, so a cancel frees its order's place for the commands after it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction

import numpy as np
from kabuto.engine.assets import FEE_ACCOUNT
from kabuto.engine.codes import Flag, Op, Reason
from kabuto.engine.instruments import Instrument
from kabuto.engine.jitcall import DirectCall
from kabuto.engine.oracle import oracle_fields
from kabuto.venue.accounts import ACCOUNT, ACCOUNT_RE, OID, SESSION, SIDE, SLOT, SYM, Accounts, Session, new_order
from kabuto.venue.commands import C_AMEND, C_CANCEL, C_COD, C_MASS, C_NEW, GTC, POST, Command
from kabuto.venue.config import VenueConfig
from kabuto.venue.errors import Refused
from kabuto.venue.orderrows import CL_INT, F_CLB, F_CLINT, F_CLKIND, F_REQ, F_SIDE, F_SYM, F_TIF, commit
from kabuto.venue.sequencer import BalanceSet, HaltSet, MassCancel, OracleSet, ReferenceSet, Sequencer

R_UNKNOWN_SYMBOL, R_BAD_PRICE = int(Reason.UNKNOWN_SYMBOL), int(Reason.BAD_PRICE)
HALT_OPS = {"halt": int(Op.HALT), "resume": int(Op.RESUME), "halt_all": int(Op.HALT_ALL),
            "resume_all": int(Op.RESUME_ALL)}
BAND_ON = int(Flag.BAND_ON)
R_MALFORMED, R_UNKNOWN_ORDER = int(Reason.MALFORMED), int(Reason.UNKNOWN_ORDER)
R_NOT_AUTHORIZED, R_RATE_LIMIT, R_TOO_MANY = (int(Reason.NOT_AUTHORIZED), int(Reason.RATE_LIMIT),
                                              int(Reason.TOO_MANY_ORDERS))
# carried in the CANCEL records the gateway makes itself (the kernel prints `user` today; the
# report stage names the real reason from the command behind the event)
R_DISCONNECT, R_MASS_CANCEL = int(Reason.DISCONNECT), int(Reason.MASS_CANCEL)
R_UNKNOWN_ASSET, R_BAD_AMOUNT, R_BAD_FEE = int(Reason.UNKNOWN_ASSET), int(Reason.BAD_AMOUNT), int(Reason.BAD_FEE)
R_FROZEN = int(Reason.FROZEN)

ORACLE_FAULTS = {R_MALFORMED: "an oracle update needs sym, px, mult, a known market, an integer ots, next_mult with "
                              "mult_at, and reg_open < reg_close when the market is regular",
                 int(Reason.UNKNOWN_SYMBOL): "unknown symbol", int(Reason.NO_ORACLE): "not an oracle instrument",
                 int(Reason.BAD_PRICE): "px must be a positive decimal (token reference 1 tick to 2**40 ticks)",
                 int(Reason.BAD_MULTIPLIER): "mult and next_mult must be positive decimals of at most 18 digits"}

class OrderEntry:
    """Owns sessions and accounts; feeds the sequencer with command records and per-command metadata."""

    def __init__(self, config: VenueConfig, instruments: Sequence[Instrument], sequencer: Sequencer,
                 first_oid: int = 1, routes: Callable | None = None, flush: Callable[[], None] | None = None,
                 risk: bool = False):
        self.config = config
        self.instruments = list(instruments)
        self.symbols = [i.symbol for i in instruments]
        self.symbol_index = {s: k for k, s in enumerate(self.symbols)}
        self.seq = sequencer
        self.accounts = Accounts()
        # balances (docs/balances.md 14): with risk on, "@fees" is account 0, interned before any other
        self.risk = risk
        if risk:
            self.accounts.get(FEE_ACCOUNT)
        self.next_dep = 1  # the deposit id the next operator deposit gets (after a recovery: the engine's last + 1)
        self.vault = False  # deposits come from the vault's feed only (docs/balances.md 13.2), not from operators
        self.frozen = False  # the vault froze: every command is refused `frozen` (docs/balances.md 13.6)
        self.sessions: dict[bytes, Session] = {}
        self.by_fd: dict[int, Session] = {}  # the session of each connection's socket descriptor
        self.keys: dict[bytes, str] = {}  # CURVE: client key (Z85) -> account, as the key file says now
        self.routes = routes  # told every session of every account whenever sessions change
        self.flush = flush  # runs the batch collected so far (the server's run_batch)
        self.next_slot = 0
        self.next_oid = first_oid
        self.rate = float(config.rate_limit)
        self.burst = float(config.rate_limit) if config.rate_limit else 0.0
        self._commit = DirectCall(commit)  # always the same argument types
        # the batch being collected (cleared once it has run): per account id the orders it holds
        # at this point, the engine ids whose cancel is sequenced, and the resting kinds entered
        self._held_now: dict[int, int] = {}
        self._ending: set[int] = set()
        self._fresh: set[int] = set()

    # ------------------------------------------------------------------ session requests

    def session_for(self, rid: bytes, user: str | None) -> Session | None:
        """The logged-on session of a connection, or None; with CURVE the key must be the session's."""
        s = self.sessions.get(rid)
        if s is not None and user is not None and s.user != user:
            return None
        return s

    def logon(self, rid: bytes, user: str | None, req: int, name: str | None, cod: bool, now: float,
              fd: int = -1, via: str = "zmq") -> Session:
        """Open (or re-open) the session of connection rid (socket descriptor fd) for account name;
        with an authenticated key (user) the key decides the account. via: the protocol its client speaks
        (an adapter's sessions say which)."""
        if name is not None and (type(name) is not str or not ACCOUNT_RE.fullmatch(name)):
            raise Refused(R_MALFORMED, "an account name is 1 to 64 of A-Z a-z 0-9 . _ -", req)
        if user is not None:  # the key decides the account
            owner = self.keys.get(user.encode())
            if owner is None:
                raise Refused(R_NOT_AUTHORIZED, "this key is no longer in the key file", req)
            if name is not None and name != owner:
                raise Refused(R_NOT_AUTHORIZED, "this key does not trade for that account", req)
            name = owner
        elif name is None:
            raise Refused(R_MALFORMED, "logon needs an account name (plain-text mode)", req)
        old = self.sessions.get(rid)
        if old is not None:  # the same connection logs on again; a different account means the old peer is gone
            self.drop(old, cancel=old.account.name != name)
        account = self.accounts.get(name)
        s = Session(rid, self.next_slot, account, cod, now, self.burst)
        s.user = user
        s.via = via
        self.next_slot += 1
        self.sessions[rid] = s
        if fd >= 0:
            s.fd = fd
            self.by_fd[fd] = s
        account.sessions.append(s)
        self._routes_changed()
        return s

    def logout(self, s: Session) -> None:
        """Close a session (canceling its orders when it asked for cancel-on-disconnect)."""
        self.drop(s, cancel=True)

    def open_orders(self, s: Session, req: int, sym: str | None) -> list[list]:
        """The order records of the account's live orders (of one symbol, or all), oldest first."""
        if sym is not None and sym not in self.symbol_index:
            raise Refused(R_UNKNOWN_SYMBOL, f"unknown symbol {sym!r}", req)
        k = -1 if sym is None else self.symbol_index[sym]
        return [o for o in s.account.live.values() if o[SLOT] is not None and (k < 0 or o[SYM] == k)]

    def ref(self, s: Session, req: int, sym: str, mant: int, exp: int, text: str) -> None:
        """An operator sets an instrument's reference price mant * 10**exp (text: as the operator wrote
        it): its band moves, and the resting orders now outside it are canceled (reason `band`) in
        the next batch; acknowledged after that batch."""
        if s.account.name not in self.config.operators:
            raise Refused(R_NOT_AUTHORIZED, "only an operator account sets reference prices", req)
        k = self.symbol_index.get(sym)
        if k is None:
            raise Refused(R_UNKNOWN_SYMBOL, f"unknown symbol {sym!r}", req)
        ins = self.instruments[k]
        value = Fraction(mant) * Fraction(10) ** exp
        if not mant or not ins.reference_ticks(value):
            raise Refused(R_BAD_PRICE, "the price must be a positive decimal of at most 2**40 ticks", req)
        lo = hi = None
        flags, lo_t, hi_t = 0, 0, 0
        if ins.band_pct is not None:
            lo_t, hi_t = ins.band_edges(value)
            flags = BAND_ON
            lo, hi = ins.px.text(lo_t), ins.px.text(hi_t)
        self.seq.reference(s, req, sym=k, low=lo_t, high=hi_t, flags=flags, ticks=ins.reference_round(value))
        self.seq.ack(ReferenceSet(s, req, sym, text, lo, hi))

    def halt(self, s: Session, req: int, kind: str, sym: str | None) -> None:
        """An operator halts or resumes one instrument (kind `halt`, `resume`; sym names it) or the whole
        venue (`halt_all`, `resume_all`; sym None); acknowledged after the batch (docs/market-integrity.md 11)."""
        if s.account.name not in self.config.operators:
            raise Refused(R_NOT_AUTHORIZED, "only an operator account halts and resumes trading", req)
        k = -1
        if kind in ("halt", "resume"):
            k = self.symbol_index.get(sym)
            if k is None:
                raise Refused(R_UNKNOWN_SYMBOL, f"unknown symbol {sym!r}", req)
        self.seq.halt(s, req, op=HALT_OPS[kind], sym=k)
        self.seq.ack(HaltSet(s, req, kind, sym))

    def oracle(self, s: Session, req: int, update: object, parts: Callable[[object], tuple[int, int]]) -> None:
        """An oracle account's update of an oracle instrument: a mapping with the fields of the replay
        command (docs/market-integrity.md 4); parts reads its decimals. Acknowledged after the batch."""
        if s.account.name not in self.config.oracles:
            raise Refused(R_NOT_AUTHORIZED, "only an oracle account sends oracle updates", req)
        if not isinstance(update, dict):
            raise Refused(R_MALFORMED, "an oracle update is a map of sym, px, mult, market, ots, ...", req)
        reason, fields = oracle_fields(update, self.symbol_index, self.instruments, parts)
        if reason:
            raise Refused(reason, ORACLE_FAULTS.get(reason, "rejected"), req)
        self.seq.oracle(s, req, fields)
        self.seq.ack(OracleSet(s, req, update["sym"]))

    # ------------------------------------------------------------------ balances (risk on)

    def _operator(self, s: Session, req: int, what: str) -> None:
        if s.account.name not in self.config.operators:
            raise Refused(R_NOT_AUTHORIZED, f"only an operator account {what}", req)

    def _named(self, name: str, req: int):
        """The account an operator names (created on first use); "@fees" included."""
        if name != FEE_ACCOUNT and not ACCOUNT_RE.fullmatch(name):
            raise Refused(R_MALFORMED, f"an account name is 1 to 64 of A-Z a-z 0-9 . _ - (or {FEE_ACCOUNT})", req)
        return self.accounts.get(name)

    @staticmethod
    def _asset_amount(req: int, asset: int, amount: int) -> None:
        if asset < 0:
            raise Refused(R_UNKNOWN_ASSET, "the venue has no such asset", req)
        if amount <= 0:
            raise Refused(R_BAD_AMOUNT, "the amount must be a positive decimal of at most the asset's decimals "
                                        "and 2**62 - 1 units", req)

    def deposit(self, s: Session, req: int, name: str, asset: int, amount: int) -> None:
        """An operator credits account name with amount units of asset id (the embedded custodian); the
        deposit gets the venue's next deposit id. Acknowledged after its batch."""
        self._operator(s, req, "deposits")
        if self.vault:
            raise Refused(R_NOT_AUTHORIZED, "deposits come from the vault: operators cannot deposit", req)
        account = self._named(name, req)
        self._asset_amount(req, asset, amount)
        dep = self.next_dep
        self.next_dep += 1
        i = self.seq.deposit(s, req, dep=dep, acct=account.id, asset=asset, amount=amount)
        self.seq.ack(BalanceSet(s, req, "deposit", i, (account.name, dep)))

    def vault_deposit(self, dep: int, name: str, asset: int, amount: int) -> None:
        """Deposit dep seen on the vault, confirmed (no session): sequenced as it is, so the engine consumes its id
        even when it is rejected (asset -1: unknown_asset; amount <= 0: bad_amount; a bad name: malformed)."""
        reason = 0
        if name == FEE_ACCOUNT or not ACCOUNT_RE.fullmatch(name):
            reason, acct = R_MALFORMED, 0
        else:
            acct = self.accounts.get(name).id
            if asset < 0:
                reason = R_UNKNOWN_ASSET
            elif amount <= 0:
                reason = R_BAD_AMOUNT
        self.seq.deposit(None, None, dep=dep, acct=acct, asset=max(asset, 0), amount=max(amount, 0), reason=reason)

    def withdraw(self, s: Session, req: int, name: str | None, asset: int, amount: int) -> None:
        """A withdrawal from the session's own account (name None or its own), or an operator's from any
        account; acknowledged after its batch with its withdrawal id."""
        if name is None or name == s.account.name:
            account = s.account
        else:
            self._operator(s, req, "withdraws for another account")
            account = self._named(name, req)
        self._asset_amount(req, asset, amount)
        i = self.seq.withdraw(s, req, acct=account.id, asset=asset, amount=amount)
        self.seq.ack(BalanceSet(s, req, "withdraw", i, (account.name,)))

    def fees(self, s: Session, req: int, tier: int, maker: int | None, taker: int | None) -> None:
        """An operator sets a fee tier's rates (millionths; None: not a rate of at most two decimal places)."""
        self._operator(s, req, "sets fee rates")
        if maker is None or taker is None:
            raise Refused(R_BAD_FEE, "a rate is basis points with at most two decimal places, as a string", req)
        i = self.seq.fees(s, req, tier=tier, maker=maker, taker=taker)
        self.seq.ack(BalanceSet(s, req, "fees", i, (tier,)))

    def tier(self, s: Session, req: int, name: str, tier: int) -> None:
        """An operator puts an account in a fee tier."""
        self._operator(s, req, "sets fee tiers")
        account = self._named(name, req)
        i = self.seq.tier(s, req, acct=account.id, tier=tier)
        self.seq.ack(BalanceSet(s, req, "tier", i, (account.name, tier)))

    def balances_of(self, s: Session, req: int, name: str | None) -> tuple[str, int]:
        """(name, engine account id or -1 when the venue never saw it) of the account a balances request asks
        about: the session's own, or any for an operator."""
        if name is None or name == s.account.name:
            return s.account.name, s.account.id
        self._operator(s, req, "reads another account's balances")
        if name != FEE_ACCOUNT and not ACCOUNT_RE.fullmatch(name):
            raise Refused(R_MALFORMED, f"an account name is 1 to 64 of A-Z a-z 0-9 . _ - (or {FEE_ACCOUNT})", req)
        account = self.accounts.by_name.get(name)
        return name, account.id if account is not None else -1

    def rekey(self, keys: dict[bytes, str]) -> list[Session]:
        """The key file changed: end every session whose key left it or now names another account;
        the sessions ended."""
        self.keys = keys
        ended = []
        for s in list(self.sessions.values()):
            if s.user is not None and keys.get(s.user.encode()) != s.account.name:
                self.drop(s, cancel=True)
                ended.append(s)
        return ended

    def disconnected(self, fd: int) -> None:
        """The connection of socket descriptor fd closed: its session ends now (cancel-on-disconnect)."""
        s = self.by_fd.get(fd)
        if s is not None and self.sessions.get(s.rid) is s:
            self.drop(s, cancel=True)

    def drop(self, s: Session, cancel: bool) -> None:
        """Forget a session; with cancel-on-disconnect, cancel the live orders it entered first (their
        reports reach every session of the account, this one included)."""
        if cancel and s.cod:
            self._settle()
            first = True
            account = s.account
            for o in list(account.live.values()):
                if o[SESSION] is s:
                    self._ends(o)
                    self.seq.cancel(None, None, C_COD, o, R_DISCONNECT, same_ts=not first)
                    first = False
            self._settle()
        if self.sessions.get(s.rid) is s:
            del self.sessions[s.rid]
        if self.by_fd.get(s.fd) is s:
            del self.by_fd[s.fd]
        account = s.account
        if s in account.sessions:
            account.sessions.remove(s)
            self._routes_changed()

    def restore_accounts(self, names: list[str]) -> None:
        """Recreate the accounts a recovery found (engine account ids in order) and route them: the
        fan-out's tables cover every account before any of their orders can produce an event."""
        for name in names:
            self.accounts.get(name)
        self._routes_changed()

    def _routes_changed(self) -> None:
        if self.routes is not None:
            self.routes([[s.slot for s in a.sessions] for a in self.accounts.by_id],
                        {s.slot: s.account.id for s in self.sessions.values()})

    def expire(self, now: float) -> int:
        """Drop every session silent for longer than the timeout; returns how many."""
        limit = now - self.config.cod_timeout
        gone = [s for s in self.sessions.values() if s.last_seen < limit]
        for s in gone:
            self.drop(s, cancel=True)
        return len(gone)

    # ------------------------------------------------------------------ order commands

    def commands(self, s: Session, cmds: Iterable[Command], now: float) -> None:
        """Turn decoded commands of one request into command records (rejects included), in order."""
        account = s.account
        live = account.live
        seq = self.seq
        rate = self.rate
        if rate:
            self._refill(s, now)
        self._sync()
        for kind, req, cl, sym, side, otype, tif, stp, pm, pe, qm, qe, flags, reason in cmds:
            if rate:
                if s.tokens < 1.0:
                    self._reject(s, kind, req, cl, sym, side, R_MALFORMED if reason == R_MALFORMED else R_RATE_LIMIT)
                    continue
                s.tokens -= 1.0
            if reason:
                self._reject(s, kind, req, cl, sym, side, reason)
            elif kind == C_NEW:
                rec = self._enter(account, s, ((cl, sym, side, tif),))[0]
                if rec is None:
                    self._reject(s, kind, req, cl, sym, side, R_TOO_MANY)
                else:
                    seq.new_order(s, req, rec, otype=otype, tif=tif, stp=stp, px=pm, pexp=pe, qty=qm, qexp=qe,
                                  flags=flags)
            elif kind == C_CANCEL:
                rec = live.get(cl)
                if rec is None:
                    self._reject(s, kind, req, cl, -1, 0, R_UNKNOWN_ORDER)
                else:
                    self._ends(rec)
                    seq.cancel(s, req, C_CANCEL, rec)
            elif kind == C_AMEND:
                rec = live.get(cl)
                if rec is None:
                    self._reject(s, kind, req, cl, -1, 0, R_UNKNOWN_ORDER)
                else:
                    seq.amend(s, req, rec, px=pm, pexp=pe, qty=qm, qexp=qe, flags=flags)
            else:
                self._mass_cancel(s, req, sym, side)

    def new_orders(self, s: Session, rows: np.ndarray, k: int, b: np.ndarray, payload: bytes, texts: bool,
                   now: float) -> bool:
        """The fast path: k plain, valid new orders a wire parser read into rows (venue/orderrows.py)
        from the bytes b of payload (texts: some client order id is a text there); False when the
        session is over its rate limit, for the wire's general decoder and commands() to handle."""
        if self.rate:
            self._refill(s, now)
            if s.tokens < k:
                return False  # commands() rejects the ones over the limit, one by one
            s.tokens -= k
        account = s.account
        if not texts:  # every client order id an integer
            cls = rows[:k, F_CLINT].tolist()
        else:
            cls = [int(v) if kd == CL_INT else payload[a:e].decode()
                   for kd, v, a, e in rows[:k, F_CLKIND:F_CLB + 1].tolist()]
        oids = []
        metas = []
        self._sync()
        syms, sides = rows[:k, F_SYM].tolist(), rows[:k, F_SIDE].tolist()
        recs = self._enter(account, s, zip(cls, syms, sides, rows[:k, F_TIF].tolist()))
        for rec, cl, req, sym, side in zip(recs, cls, rows[:k, F_REQ].tolist(), syms, sides):
            if rec is None:
                oids.append(0)  # rejected: too many live orders
                rec = new_order(0, cl, account, s, sym, side)
            else:
                oids.append(rec[OID])
            metas.append((s, req, C_NEW, rec, cl))
        start, t0, cmds, cm = self.seq.place(k)
        self._commit(rows, k, b, np.array(oids, np.int64), account.id, s.slot, t0, start, cmds, cm, R_TOO_MANY)
        self.seq.placed(metas)
        return True

    def _settle(self) -> None:
        """Run the commands collected so far, so that the account tables say exactly what is live.

        The gateway cancels orders itself (mass cancel, cancel-on-disconnect) by naming them one by
        one, and an order the batch before would end (a fill, a reject) would make the engine reject
        that cancel: an event nobody is told about, a gap in `seq`. Run first, then name them."""
        if self.seq.count and self.flush is not None:
            self.flush()
        self._sync()

    def _sync(self) -> None:
        """Forget the cap's per-batch state once its batch has run."""
        if not self.seq.count and self._held_now:
            self._held_now.clear()
            self._ending.clear()
            self._fresh.clear()

    def _held(self, account) -> int:
        """The orders the account holds at this point of the batch being collected (the cap's count)."""
        n = self._held_now.get(account.id)
        if n is None:  # first touch in this batch: every live order rests (the batch before has run)
            n = self._held_now[account.id] = len(account.live)
        return n

    def _enter(self, account, s: Session, orders) -> list:
        """The order records of new orders (cl, sym, side, tif) of one session, their client order ids
        reserved, in order; None for an order over the cap.

        Only an order that can rest (GTC, POST) counts: IOC, FOK and market orders never rest."""
        live = account.live
        ending, fresh = self._ending, self._fresh
        held = self._held(account)  # before anything of this call is filed
        most = self.config.max_live_orders
        oid = self.next_oid
        out = []
        for cl, sym, side, tif in orders:
            old = live.get(cl)
            if old is not None and old[OID] not in ending:  # the kernel decides (duplicate_oid)
                out.append(new_order(old[OID], cl, account, s, sym, side))
                continue
            if tif == GTC or tif == POST:
                if held >= most:
                    out.append(None)
                    continue
                held += 1
                fresh.add(oid)
            out.append(new_order(oid, cl, account, s, sym, side))
            live[cl] = out[-1]
            oid += 1
        self.next_oid = oid
        self._held_now[account.id] = held
        return out

    def _ends(self, rec: list) -> None:
        """A cancel of a live order is sequenced: its place under the cap is free for later commands."""
        oid = rec[OID]
        if oid in self._ending:
            return
        if rec[SLOT] is not None or oid in self._fresh:  # it rests or may rest
            account = rec[ACCOUNT]
            self._held_now[account.id] = self._held(account) - 1
        self._ending.add(oid)

    def _refill(self, s: Session, now: float) -> None:
        """The session's rate-limit token bucket, topped up for the time since its last refill."""
        s.tokens = min(self.burst, s.tokens + (now - s.refilled) * self.rate)
        s.refilled = now

    def _mass_cancel(self, s: Session, req: int, sym: int, side: int) -> None:
        self._settle()
        account = s.account
        mass = MassCancel(s, req)
        mass.first = self.seq.count
        for o in list(account.live.values()):
            if (sym < 0 or o[SYM] == sym) and (side < 0 or o[SIDE] == side):
                self._ends(o)
                self.seq.cancel(s, req, C_MASS, o, R_MASS_CANCEL, same_ts=self.seq.count > mass.first)
        mass.last = self.seq.count
        self.seq.ack(mass)

    def _reject(self, s: Session, kind: int, req, cl, sym: int, side: int, reason: int) -> None:
        rec = new_order(0, cl, s.account, s, sym, side) if kind == C_NEW else None
        self.seq.reject(s, req, kind, rec, None if kind == C_MASS else cl, sym=sym, side=side, reason=reason)
        if kind == C_MASS:  # answered like any mass cancel, after its report: it canceled nothing
            self.seq.ack(MassCancel(s, req))
