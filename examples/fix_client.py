"""An example FIX 4.4 client: logs on to `kabuto fix` and quotes (or, with --taker, takes) one symbol.

Against `make run` (a venue with the FIX adapter on 127.0.0.1:9878 and demo users MM1, MM2 and TRADER,
whose passwords it writes to kabuto-data/fix-users.toml):

    python examples/fix_client.py --sender MM1
    python examples/fix_client.py --sender TRADER --taker

Or start a venue, the FIX adapter with a users file of your own, then two clients:

    kabuto serve &                                       # CurveZMQ, kabuto-data/
    cat > fix-users.toml <<EOF
    [[user]]
    sender_comp_id = "MM1"
    password = "mm1-secret"
    account = "mm1"
    [[user]]
    sender_comp_id = "TAKER"
    password = "taker-secret"
    account = "trader"
    EOF
    kabuto fix --fix-users fix-users.toml &              # listens on 127.0.0.1:9878
    python examples/fix_client.py --sender MM1 --password mm1-secret
    python examples/fix_client.py --sender TAKER --password taker-secret --taker

The maker rests a bid and an ask around --price and moves them every --refresh seconds with
OrderCancelReplaceRequests; the taker sends IOC orders across the spread. Both print every
ExecutionReport as one line, then cancel everything (OrderMassCancelRequest) and log out. Each run
logs on with ResetSeqNumFlag, so it starts at MsgSeqNum 1 whatever earlier runs did.
"""
from __future__ import annotations

import argparse
import random
import time
import tomllib
from decimal import Decimal
from pathlib import Path

from kabuto.adapters.fix import codec as F
from kabuto.adapters.fix.initiator import Initiator

EXEC_TYPES = {"0": "new", "F": "fill", "4": "canceled", "5": "replaced", "8": "rejected", "C": "expired",
              "D": "restated"}


def show(msg: F.Message) -> None:
    """Print one ExecutionReport, OrderCancelReject or OrderMassCancelReport as a line."""
    g = msg.get
    if msg.msg_type == "8":
        kind = EXEC_TYPES.get(g(F.EXEC_TYPE), g(F.EXEC_TYPE))
        side = "buy" if g(F.SIDE) == "1" else "sell"
        last = f" {g(F.LAST_QTY)} @ {g(F.LAST_PX)}" if kind == "fill" else ""
        print(f"{kind:9s}{g(F.CL_ORD_ID)} {side} {g(F.SYMBOL)} qty {g(F.ORDER_QTY)} px {g(F.PRICE)}{last}"
              f" (cum {g(F.CUM_QTY)}, leaves {g(F.LEAVES_QTY)}, avg {g(F.AVG_PX)})"
              + (f" {g(F.TEXT)}" if g(F.TEXT) else ""), flush=True)
    elif msg.msg_type == "9":
        print(f"cxl-rej  {g(F.CL_ORD_ID)} of {g(F.ORIG_CL_ORD_ID)}: {g(F.TEXT)}", flush=True)
    elif msg.msg_type == "r":
        print(f"mass-cxl {g(F.CL_ORD_ID)}: {g(F.TOTAL_AFFECTED_ORDERS)} orders", flush=True)
    elif msg.msg_type in ("3", "j"):
        print(f"reject   {g(F.TEXT)}", flush=True)


def pump(fix: Initiator, seconds: float) -> None:
    """Print what arrives during the given time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fix.poll(min(0.05, max(deadline - time.monotonic(), 0.001)))
        while fix.inbox:
            show(fix.inbox.popleft())


def password_of(users: Path, sender: str) -> str:
    """The password of a SenderCompID in a users file (what `kabuto serve --fix` writes for the demo users)."""
    try:
        found = [u for u in tomllib.loads(users.read_text())["user"] if u["sender_comp_id"] == sender]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as e:
        raise SystemExit(f"no --password and no readable users file {users}: {e}") from None
    if not found:
        raise SystemExit(f"{sender} is not a user of {users}")
    return found[0]["password"]


def main() -> int:
    """Parse the options, log on, trade for --duration seconds, cancel everything and log out."""
    p = argparse.ArgumentParser(description="Kabuto FIX 4.4 example client")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9878)
    p.add_argument("--sender", default="MM1", help="SenderCompID (and Username)")
    p.add_argument("--password", help="Password (554); default: the sender's in DATA_DIR/fix-users.toml")
    p.add_argument("--data-dir", type=Path, default=Path("kabuto-data"),
                   help="the venue's data directory, whose fix-users.toml `make run` writes (default: %(default)s)")
    p.add_argument("--target", default="KABUTO", help="the acceptor's CompID")
    p.add_argument("--symbol", default="TSLAx-USD")
    p.add_argument("--price", default="250.00", help="the price quotes start around")
    p.add_argument("--tick", default="0.01")
    p.add_argument("--qty", default="1")
    p.add_argument("--refresh", type=float, default=1.0, help="seconds between quote moves or IOC orders")
    p.add_argument("--duration", type=float, default=30.0, help="seconds to trade")
    p.add_argument("--taker", action="store_true", help="send IOC orders across the spread instead of quoting")
    a = p.parse_args()
    if a.password is None:
        a.password = password_of(a.data_dir / "fix-users.toml", a.sender)

    with Initiator(a.host, a.port, a.sender, target=a.target, password=a.password, heartbeat=10) as fix:
        fix.logon(reset=True)
        print(f"{a.sender}: logged on to {a.target} at {a.host}:{a.port}", flush=True)
        mid, tick = Decimal(a.price), Decimal(a.tick)
        names = {"buy": None, "sell": None}
        n = 0
        end = time.monotonic() + a.duration
        while time.monotonic() < end:
            n += 1
            if a.taker:
                side = "buy" if n % 2 else "sell"
                px = mid + 100 * tick if side == "buy" else mid - 100 * tick
                fix.new_order(fix.next_id("ioc"), a.symbol, side, a.qty, str(px), tif="3")
            else:
                mid += tick * random.randint(-3, 3)
                for side, px in (("buy", mid - 50 * tick), ("sell", mid + 50 * tick)):
                    new = fix.next_id(side[0])
                    if names[side] is None:
                        fix.new_order(new, a.symbol, side, a.qty, str(px))
                    else:
                        fix.replace(new, names[side], a.symbol, side, a.qty, str(px))
                    names[side] = new
            pump(fix, a.refresh)
            _forget_finished(fix, names)
        fix.mass_cancel(fix.next_id("all"))
        pump(fix, 0.5)
        fix.logout(wait=False)
        pump(fix, 0.5)
    print(f"{a.sender}: logged out", flush=True)
    return 0


def _forget_finished(fix: Initiator, names: dict) -> None:
    """A quote that was filled or canceled is entered anew rather than replaced."""
    for m in fix.received[-50:]:
        if m.msg_type == "8" and m.get(F.ORD_STATUS) in ("2", "4", "8", "C"):
            for side, name in names.items():
                if name == m.get(F.CL_ORD_ID):
                    names[side] = None
        if m.msg_type == "9":
            for side, name in names.items():
                if name == m.get(F.CL_ORD_ID):
                    names[side] = None


if __name__ == "__main__":
    raise SystemExit(main())
