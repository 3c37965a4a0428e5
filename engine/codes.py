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
    # market integrity (docs/market-integrity.md)
    ORACLE = 30
    HALT = 31
    RESUME = 32
    HALT_ALL = 33
    RESUME_ALL = 34
    TICK = 35
    # balances (docs/balances.md 10)
    DEPOSIT = 40
    WITHDRAW = 41
    FEES = 42
    TIER = 43


class Ev(IntEnum):
    """Event kinds in an event record."""
    ACCEPTED = 0
    FILL = 1
    CANCELED = 2
    AMENDED = 3
    REJECTED = 4
    # market integrity (docs/market-integrity.md)
    ORACLE = 30
    BAND = 31
    STATUS = 32
    INDICATIVE = 33
    UNCROSS = 34
    # balances (docs/balances.md 10)
    DEPOSITED = 40
    WITHDRAWN = 41
    BALANCE = 42
    FEES = 43
    TIER = 44


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
    # market integrity (docs/market-integrity.md)
    HALTED = 30
    STALE_ORACLE = 31
    MARKET_ORDERS_NOT_ALLOWED = 32
    NOTIONAL_TOO_LARGE = 33
    AUCTION_ONLY = 34
    NO_ORACLE = 35
    ORACLE_ONLY = 36
    BAD_MULTIPLIER = 37
    BAD_ORACLE_TS = 38
    NOT_HALTED = 39
    # balances (docs/balances.md 10)
    INSUFFICIENT_FUNDS = 40
    NO_PROTECTION = 41
    UNKNOWN_ASSET = 42
    BAD_AMOUNT = 43
    DUPLICATE_DEPOSIT = 44
    DEPOSIT_GAP = 45
    BAD_FEE = 46
    UNKNOWN_TIER = 47
    FROZEN = 48


class Status(IntEnum):
    """An instrument's trading status."""
    CONTINUOUS = 0
    LIMIT_UP = 1
    LIMIT_DOWN = 2
    CALL = 3
    HALTED = 4


class StatusReason(IntEnum):
    """Why an instrument's trading status changed (the `reason` of a status event)."""
    REFERENCE = 1
    PINNED = 2
    UNPINNED = 3
    PAUSE = 4
    REOPEN = 5
    OPEN = 6
    EXTENDED = 7
    CALL_END = 8
    MARKET_WIDE = 9
    OPERATOR = 10
    STALE_ORACLE = 11
    NO_REFERENCE = 12


class HaltCause(IntEnum):
    """Bits of an instrument's set of halt causes; the lowest bit present is the reason shown."""
    MARKET_WIDE = 1
    OPERATOR = 2
    STALE_ORACLE = 4
    NO_REFERENCE = 8


class Market(IntEnum):
    """The underlying stock's market status, as the oracle reports it."""
    UNKNOWN = 0
    PRE_MARKET = 1
    REGULAR = 2
    POST_MARKET = 3
    OVERNIGHT = 4
    WEEKEND = 5
    HOLIDAY = 6


class OracleState(IntEnum):
    """What an oracle event says about the update (the `state` of an oracle event)."""
    TRUSTED = 0
    CONFIRMED = 1
    PENDING = 2
    STALE = 3


class RefSource(IntEnum):
    """Where a band's reference came from (the `source` of a band event)."""
    ORACLE = 1
    VWAP = 2
    LAST_ORACLE = 3


class Timer(IntEnum):
    """Timer kinds, by rank: at one deadline and instrument the lower rank fires first."""
    STALE = 1
    STALE_HALT = 2
    REF_GRID = 3
    LIMIT = 4
    CALL_END = 5
    INDICATIVE = 6


class Flag(IntEnum):
    """Bits of the `flags` field of command and event records."""
    HAS_TS = 1
    HAS_PX = 2
    HAS_QTY = 4
    HAS_OID = 8
    BAND_ON = 16  # ref: the instrument has a band; lo/hi are set. indicative: the collar is set
    TIMER = 32  # an event a timer caused (docs/market-integrity.md 5): no command, no session behind it
    PROTECT = 64  # new, market order: px/pexp carry its protection price (docs/balances.md 6)
    FEES = 128  # fill with risk on: the event carries maker_fee (open) and taker_fee (line)
    DEP = 256  # rejected deposit whose id was read: oid is that id, printed as "dep"


SIDE_NAMES = {"buy": Side.BUY, "sell": Side.SELL}
TYPE_NAMES = {"limit": OrdType.LIMIT, "market": OrdType.MARKET}
TIF_NAMES = {"GTC": Tif.GTC, "IOC": Tif.IOC, "FOK": Tif.FOK, "POST": Tif.POST}
STP_NAMES = {"cancel_oldest": Stp.CANCEL_OLDEST, "cancel_newest": Stp.CANCEL_NEWEST,
             "cancel_both": Stp.CANCEL_BOTH, "decrement": Stp.DECREMENT}
EV_NAMES = {e: e.name.lower() for e in Ev}
REASON_NAMES = {r: r.name.lower() for r in Reason}
STATUS_NAMES = {s: s.name.lower() for s in Status}
STATUS_REASON_NAMES = {r: r.name.lower() for r in StatusReason}
MARKET_NAMES = {m.name.lower(): m for m in Market}
ORACLE_STATE_NAMES = {s: s.name.lower() for s in OracleState}
REF_SOURCE_NAMES = {s: s.name.lower() for s in RefSource}
PRICED_MARKETS = (Market.PRE_MARKET, Market.REGULAR, Market.POST_MARKET, Market.OVERNIGHT)
SIDE_TEXT = {Side.BUY: "buy", Side.SELL: "sell"}
