"""Venue state: accounts, their sessions and live orders, kept up to date from the event stream.

An order record is a plain list indexed by the constants below, not an object: one is made for
every order entered, and a list costs a sixth of a slotted object's constructor. new_order makes
every one of them.
"""
from __future__ import annotations

import re

ACCOUNT_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # an account name

# order record layout: [oid, cl, account, session, sym, side, slot]
OID = 0      # venue-wide engine order id, allocated by the gateway
CL = 1       # the client's order id, unique among the account's live orders
ACCOUNT = 2  # the owning Account
SESSION = 3  # the Session that entered it (for cancel-on-disconnect)
SYM = 4      # instrument index
SIDE = 5     # 0 buy, 1 sell
SLOT = 6     # its row in the live order table once accepted (None before): price, open lots


def new_order(oid: int, cl, account: Account, session: Session | None, sym: int, side: int) -> list:
    """A fresh order record: not yet resting (no slot in the live order table)."""
    return [oid, cl, account, session, sym, side, None]


class Account:
    """A trading account: its sessions and its live (or just reserved) orders by client order id."""

    __slots__ = ("name", "id", "sessions", "live")

    def __init__(self, name: str, id_: int):
        self.name = name
        self.id = id_
        self.sessions: list[Session] = []
        self.live: dict[object, list] = {}


class Session:
    """One logged-on connection of an account, whatever its wire."""

    __slots__ = ("rid", "slot", "account", "cod", "last_seen", "tokens", "refilled", "fd", "user", "via")

    def __init__(self, rid: bytes, slot: int, account: Account, cod: bool, now: float, burst: float):
        self.rid = rid          # the wire adapter's id of the connection (a ROUTER routing id)
        self.slot = slot        # its number in the fan-out stage's routing tables (never reused)
        self.account = account
        self.cod = cod          # cancel this session's orders when it goes silent or logs out
        self.last_seen = now
        self.tokens = burst     # rate limit token bucket
        self.refilled = now
        self.fd = -1            # the connection's socket descriptor, -1: unknown
        self.user = None        # the key the connection authenticated with (CURVE: Z85), None in plain text
        self.via = "zmq"        # the protocol its client speaks: zmq, or the adapter's (rest, ws, fix)


class Accounts:
    """Every account the gateway has seen, by name; engine account ids are their indexes."""

    def __init__(self) -> None:
        self.by_name: dict[str, Account] = {}
        self.by_id: list[Account] = []

    def get(self, name: str) -> Account:
        """The account of a name, created on first use."""
        a = self.by_name.get(name)
        if a is None:
            a = self.by_name[name] = Account(name, len(self.by_id))
            self.by_id.append(a)
        return a
