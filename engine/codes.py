"""Integer codes shared by the kernel, the gateway, replay and the docs: one place for all of them."""
from enum import IntEnum


class Side(IntEnum):
    """Order side."""
    BUY = 0
    SELL = 1


class OrdType(IntEnum):
    """Order type."""
    LIMIT = 0
    MARKET = 1


class Tif(IntEnum):
    """Time in force."""
    GTC = 0
    IOC = 1
    FOK = 2
    POST = 3


class Stp(IntEnum):
    """Self-trade prevention mode of the incoming order."""
    CANCEL_OLDEST = 0
    CANCEL_NEWEST = 1
    CANCEL_BOTH = 2
    DECREMENT = 3


class Op(IntEnum):
    """Command kinds in a command record."""
    NEW = 0
    CANCEL = 1
    AMEND = 2
    REF = 3
    REJECT = 4  # rejected before the kernel (static fault); the kernel only prints it


class Ev(IntEnum):
    """Event kinds in an event record."""
    ACCEPTED = 0
    FILL = 1
    CANCELED = 2
    AMENDED = 3
    REJECTED = 4


class Reason(IntEnum):
    """Reject and cancel reasons; NONE means no reason."""
    NONE = 0
    # rejects, in the spec's order of precedence
    MALFORMED = 1
    UNKNOWN_SYMBOL = 2
    UNKNOWN_ORDER = 3
    BAD_TIF = 4
    BAD_STP = 5
    BAD_PRICE = 6
    BAD_QTY = 7
    OUTSIDE_BAND = 8
    DUPLICATE_OID = 9
    WOULD_TAKE = 10
    # cancel reasons
    USER = 11
    IOC = 12
    FOK = 13
    STP = 14
    BAND = 15
    # gateway-only rejects (live venue, not in replay)
    NOT_AUTHORIZED = 16
    RATE_LIMIT = 17
    TOO_MANY_ORDERS = 18
    DISCONNECT = 19  # cancel-on-disconnect
    MASS_CANCEL = 20


class Flag(IntEnum):
    """Bits of the `flags` field of command and event records."""
    HAS_TS = 1
    HAS_PX = 2
    HAS_QTY = 4
    HAS_OID = 8
    BAND_ON = 16  # ref: the instrument has a band; lo/hi are set


SIDE_NAMES = {"buy": Side.BUY, "sell": Side.SELL}
TYPE_NAMES = {"limit": OrdType.LIMIT, "market": OrdType.MARKET}
TIF_NAMES = {"GTC": Tif.GTC, "IOC": Tif.IOC, "FOK": Tif.FOK, "POST": Tif.POST}
STP_NAMES = {"cancel_oldest": Stp.CANCEL_OLDEST, "cancel_newest": Stp.CANCEL_NEWEST,
             "cancel_both": Stp.CANCEL_BOTH, "decrement": Stp.DECREMENT}
EV_NAMES = {e: e.name.lower() for e in Ev}
REASON_NAMES = {r: r.name.lower() for r in Reason}
SIDE_TEXT = {Side.BUY: "buy", Side.SELL: "sell"}
