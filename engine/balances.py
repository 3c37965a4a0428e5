"""Balances, holds and fees in compiled code (docs/balances.md 5-7): what the kernel calls with risk on."""
from kabuto.engine.jit import njit
from kabuto.engine.state import M_FEE_ACCT, M_TOUCHED

MILLION = 1_000_000
CAP = (1 << 62) - 1  # no amount, total or hold may exceed it
TOO_LARGE = -1  # a value or hold over CAP: never available


@njit(cache=True, _nrt=False, inline="always")
def value(px, qty, f):
    """px x qty x f (a trade's value in quote units, or qty x bf with px 1), or TOO_LARGE over CAP."""
    if px <= 0 or qty <= 0:
        return 0
    if qty > CAP // px:
        return TOO_LARGE
    pq = px * qty
    if pq > CAP // f:
        return TOO_LARGE
    return pq * f


@njit(cache=True, _nrt=False, inline="always")
def fee_bound(aq, ar, r, v):
    """ceil((acc + r x v) / 10^6) - ceil(acc / 10^6) for acc = aq x 10^6 + ar, r >= 0, 0 <= v <= CAP.

    Exact in int64: v is split at 10^6, so no product exceeds about 10^5 x 2^62 / 10^6."""
    x = ar + r * (v % MILLION)
    return r * (v // MILLION) + (x + MILLION - 1) // MILLION - (1 if ar > 0 else 0)


@njit(cache=True, _nrt=False, inline="always")
def hold_of(side, px, open_, bf, qf, aq, ar, rt):
    """What a live order holds (section 6): a sell its base, a buy its value at px plus its largest fee."""
    if side == 1:
        return value(1, open_, bf)
    v = value(px, open_, qf)
    if v == TOO_LARGE:
        return TOO_LARGE
    return v + fee_bound(aq, ar, rt, v)


@njit(cache=True, _nrt=False, inline="always")
def rebate(r, v):
    """floor(-r x v / 10^6) for r < 0: a maker's rebate before its cap."""
    return (-r) * (v // MILLION) + ((-r) * (v % MILLION)) // MILLION


@njit(cache=True, _nrt=False, inline="always")
def touch(st, acct, asset):
    """Remember a pair's (total, held) before its first change in this command or timer step."""
    if st.t_old[acct, asset, 0] < 0:
        st.t_old[acct, asset, 0] = st.a_bal[acct, asset, 0]
        st.t_old[acct, asset, 1] = st.a_bal[acct, asset, 1]
        n = st.meta[M_TOUCHED]
        st.t_list[n] = acct * st.a_bal.shape[1] + asset
        st.meta[M_TOUCHED] = n + 1


@njit(cache=True, _nrt=False, inline="always")
def change(st, acct, asset, d_total, d_held):
    """Add to a pair's total and held."""
    touch(st, acct, asset)
    st.a_bal[acct, asset, 0] += d_total
    st.a_bal[acct, asset, 1] += d_held


@njit(cache=True, _nrt=False, inline="always")
def available(st, acct, asset):
    """total - held of a pair."""
    return st.a_bal[acct, asset, 0] - st.a_bal[acct, asset, 1]


@njit(cache=True, _nrt=False, inline="always")
def order_hold(st, o):
    """The hold of live order slot o, from its state."""
    b = st.o_book[o]
    sym = b >> 1
    return hold_of(b & 1, st.o_px[o], st.o_qty[o], st.i_bf[sym], st.i_qf[sym], st.r_aq[o], st.r_ar[o], st.r_rt[o])


@njit(cache=True, _nrt=False, inline="always")
def hold_asset(st, sym, side):
    """The asset an order of this instrument and side holds: a buy its quote, a sell its base."""
    return st.i_base[sym] if side == 1 else st.i_quote[sym]


@njit(cache=True, _nrt=False, inline="always")
def positive_fee(st, o, r, v):
    """The fee of order slot o at positive rate r on a fill of value v; advances its accumulator."""
    fee = fee_bound(st.r_aq[o], st.r_ar[o], r, v)
    x = st.r_ar[o] + r * (v % MILLION)
    st.r_aq[o] += r * (v // MILLION) + x // MILLION
    st.r_ar[o] = x % MILLION
    return fee


@njit(cache=True, _nrt=False, inline="always")
def move(st, sym, buyer, seller, q, v, buyer_fee, seller_fee):
    """A fill's transfers (section 7): base to the buyer, quote to the seller, both fees to @fees."""
    base = st.i_base[sym]
    quote = st.i_quote[sym]
    bq = q * st.i_bf[sym]
    change(st, buyer, base, bq, 0)
    change(st, seller, base, -bq, 0)
    change(st, buyer, quote, -(v + buyer_fee), 0)
    change(st, seller, quote, v - seller_fee, 0)
    change(st, st.meta[M_FEE_ACCT], quote, buyer_fee + seller_fee, 0)


@njit(cache=True, _nrt=False)
def sort_pairs(a, n):
    """Sort a[:n] ascending in place (Shell sort with Ciura's gaps: no allocation, few pairs in practice)."""
    for gap in (701, 301, 132, 57, 23, 10, 4, 1):
        for i in range(gap, n):
            x = a[i]
            j = i
            while j >= gap and a[j - gap] > x:
                a[j] = a[j - gap]
                j -= gap
            a[j] = x
