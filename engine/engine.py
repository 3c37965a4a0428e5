"""The engine facade: the numba kernel behind a small API (process a batch, read a book)."""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import numpy as np
from kabuto.engine import kernel
from kabuto.engine.assets import Risk
from kabuto.engine.codes import HaltCause, Status
from kabuto.engine.instruments import Instrument, cents_in_ticks, initial_bands, notional_units
from kabuto.engine.jitcall import DirectCall
from kabuto.engine.records import COMMAND_DTYPE, EVENT_DTYPE
from kabuto.engine.state import (
    EMPTY,
    M_LIVE,
    M_NEXT_TIMER,
    M_ORACLES,
    P_BP,
    P_FACTOR,
    P_MARKET,
    P_MAXN,
    State,
    advise_huge,
    grow_accounts,
    grow_book_levels,
    grow_hash,
    grow_levels,
    grow_orders,
    grow_window,
    new_state,
    with_risk,
)

Levels = list[tuple[int, int]]  # (price in ticks, quantity in lots), best first


def decimal_parts(d: Decimal) -> tuple[int, int]:
    """(mantissa, exponent) of a positive decimal with trailing zeros stripped."""
    sign, digits, exp = d.normalize().as_tuple()
    return int("".join(map(str, digits))), exp


def _event_buffer(n: int) -> np.ndarray:
    """Room for n events: zeroed (the records' padding bytes are hashed), on huge pages when big.

    A big batch's buffer is first written inside the kernel call: with 4 KiB pages that call took a
    page fault every 42 events."""
    ev = np.zeros(n, EVENT_DTYPE)
    advise_huge(ev)
    return ev


def _zero_padded(*parts: np.ndarray) -> np.ndarray:
    """The event records of parts, in order, in a new array whose padding bytes are zero.

    numpy copies aligned records field by field (copy(), concatenate): the padding of the copy is
    whatever the memory held, and event hashes cover the records' bytes."""
    out = np.zeros(sum(map(len, parts)), EVENT_DTYPE)
    at = 0
    for p in parts:
        out[at:at + len(p)] = p
        at += len(p)
    return out


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def set_oracles(st: State, instruments: Sequence[Instrument]) -> None:
    """Write the oracle instruments' configuration into a fresh state (docs/market-integrity.md 3):
    each starts halted, cause no_reference."""
    for i, ins in enumerate(instruments):
        o = ins.oracle
        if o is None:
            continue
        ms = 1_000_000
        c15 = cents_in_ticks(ins, 15)
        st.i_oc[i] = [1, 500 if o.tier == 1 else 1000, o.step_bp, o.confirm_ms * ms, o.stale_ms * ms,
                      o.halt_ms * ms, o.ref_window_ms * ms, o.ref_interval_ms * ms, o.ref_move_bp,
                      o.limit_state_ms * ms, o.pause_ms * ms, o.open_auction_ms * ms, o.collar_bp or -1,
                      int(cents_in_ticks(ins, 300)), _ceil(cents_in_ticks(ins, 75)), c15.numerator,
                      c15.denominator]
        for m, p in enumerate(o.policies):
            st.i_pol[i, m, P_FACTOR] = p.band_factor
            st.i_pol[i, m, P_BP] = -1 if p.band_bp is None else p.band_bp
            st.i_pol[i, m, P_MARKET] = int(p.market_orders)
            st.i_pol[i, m, P_MAXN] = -1 if p.max_notional is None else notional_units(ins, p.max_notional)
        st.i_status[i] = Status.HALTED
        st.i_causes[i] = HaltCause.NO_REFERENCE
        st.meta[M_ORACLES] += 1


class Engine:
    """All books of a venue, matched by the numba kernel one batch of command records at a time."""

    def __init__(self, instruments: Sequence[Instrument], orders: int = 1 << 16, levels: int = 1 << 12,
                 book_levels: int = 256, events: int = 1 << 16, risk: Risk | None = None, fee_acct: int = -1):
        self.instruments = list(instruments)
        st = new_state(len(self.instruments), orders, levels, book_levels)
        for i, ins in enumerate(self.instruments):
            st.i_tm[i], st.i_te[i] = decimal_parts(ins.tick_size)
            st.i_lm[i], st.i_le[i] = decimal_parts(ins.lot_size)
            st.i_minq[i] = ins.min_lots
            st.i_reopen[i] = ins.reopen_ms * 1_000_000
            st.i_indns[i] = ins.indicative_ms * 1_000_000
            if ins.reference_price is not None:
                st.i_ref[i] = ins.reference_round(Fraction(ins.reference_price))
        for i, (on, lo, hi) in enumerate(initial_bands(self.instruments)):
            st.i_band[i], st.i_lo[i], st.i_hi[i] = on, lo, hi
        set_oracles(st, self.instruments)
        if risk is not None and risk.enabled:  # balances, holds and fees (docs/balances.md)
            st = with_risk(st, risk.base, risk.quote, risk.bf, risk.qf, len(risk.assets), risk.tiers, fee_acct)
        self.state = st
        self._events = _event_buffer(events)
        self._kernel = DirectCall(kernel.run)  # for this engine's state and contiguous command records
        self.seq = 0  # events emitted so far: the seq of the last event

    def process(self, cmds: np.ndarray) -> np.ndarray:
        """Run a batch of command records; returns its events (a view valid until the next call)."""
        if cmds.dtype == COMMAND_DTYPE and not (cmds.flags.c_contiguous and cmds.flags.writeable):
            # a journal's records read from bytes are read-only: numba would compile the whole kernel again for
            # them (minutes, at a venue's first recovery); a copy costs microseconds
            cmds = cmds.copy()
        i, k = 0, 0
        if len(self._events) < 2 * len(cmds) + 1024:  # most commands print one or two events
            self._events = _event_buffer(2 * len(cmds) + 1024)
            self._kernel.reset()
        done = []  # full event buffers of this batch
        while True:
            i, k, status = self._run(cmds, i, k)
            if status == kernel.OK:
                break
            if status == kernel.NEED_EVENTS and k > 0:
                done.append(_zero_padded(self._events[:k]))
                k = 0
            else:
                self._grow(status)
        if done:
            self.seq += k + sum(map(len, done))
            return _zero_padded(*done, self._events[:k])
        self.seq += k
        return self._events[:k]

    def _run(self, cmds: np.ndarray, i: int, k: int) -> tuple[int, int, int]:
        """kernel.run; straight through its compiled entry point for C-contiguous, writable command records.

        numba's dispatcher matches the types of all ~30 state arrays on every call (~8 us); the
        compiled entry point skips that (~2 us)."""
        if cmds.flags.c_contiguous and cmds.dtype == COMMAND_DTYPE and cmds.flags.writeable:
            return self._kernel(self.state, cmds, i, self._events, k)
        return kernel.run(self.state, cmds, i, self._events, k)

    def _grow(self, status: int) -> None:
        st = self.state
        if status == kernel.NEED_WINDOW:  # a C-contiguous ring like the one it replaces: the same types, the
            self.state = grow_window(st)  # same entry point (the dispatcher's type matching costs ~1 ms a call)
            return
        self._kernel.reset()  # new arrays: look the entry point up again
        if status == kernel.NEED_EVENTS:  # one command needs more room than the whole buffer
            self._events = _event_buffer(len(self._events) * 2)
        elif status == kernel.NEED_ORDERS:
            self.state = grow_orders(st)
        elif status == kernel.NEED_LEVELS:
            self.state = grow_levels(st)
        elif status == kernel.NEED_BOOK_LEVELS:
            self.state = grow_book_levels(st)
        elif status == kernel.NEED_HASH:
            self.state = grow_hash(st)
        elif status == kernel.NEED_ACCOUNTS:
            self.state = grow_accounts(st, 0)
        else:
            raise AssertionError(f"unknown kernel status {status}")

    @property
    def next_timer(self) -> int:
        """The earliest deadline (ns, command time) of a timer (docs/market-integrity.md 5); 2**63 - 1 when none."""
        return int(self.state.meta[M_NEXT_TIMER])

    @property
    def live_orders(self) -> int:
        """How many orders rest on all books."""
        return int(self.state.meta[M_LIVE])

    def book(self, sym: int) -> tuple[Levels, Levels]:
        """(bids, asks) of one instrument, aggregated by price, best first."""
        st = self.state
        out = []
        for side in (0, 1):
            b = sym * 2 + side
            lv = st.b_lv[b, :st.b_n[b]][::-1]
            out.append(list(zip(st.l_px[lv].tolist(), st.l_qty[lv].tolist())))
        return out[0], out[1]

    def orders(self, sym: int, side: int) -> list[tuple[int, int, int, int]]:
        """Resting orders of one book in priority order: (oid, acct, px ticks, open lots)."""
        st = self.state
        b = sym * 2 + side
        out = []
        for lv in st.b_lv[b, :st.b_n[b]][::-1]:
            o = st.l_head[lv]
            while o != EMPTY:
                out.append((int(st.o_oid[o]), int(st.o_acct[o]), int(st.o_px[o]), int(st.o_qty[o])))
                o = st.o_next[o]
        return out

    def balances(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(account id, asset id) -> (total, held) of every pair with a non-zero total or held (risk on)."""
        bal = self.state.a_bal
        accts, assets = np.nonzero(bal.any(axis=2))
        return {(int(x), int(a)): (int(bal[x, a, 0]), int(bal[x, a, 1])) for x, a in zip(accts, assets)}

    def asset_sums(self) -> list[tuple[int, int]]:
        """Per asset id: (deposited, withdrawn) so far (risk on)."""
        return [(int(d), int(w)) for d, w in self.state.s_dw]

    def memory_bytes(self) -> int:
        """Bytes held by the engine's state arrays."""
        return sum(a.nbytes for a in self.state) + self._events.nbytes
