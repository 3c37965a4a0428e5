"""Wire protocol v1: message kinds, field positions and names shared by the server and the SDK.

Every message is one msgpack array whose first element is its kind (a short string). See
docs/protocol.md for the full specification.
"""
from kabuto.engine.codes import REASON_NAMES, Side

VERSION = 1
VIAS = ("zmq", "rest", "ws", "fix")  # the protocols a session's users speak (logon option via)

# client -> gateway (order entry, ROUTER)
LOGON = "logon"
LOGOUT = "logout"
HEARTBEAT = "hb"
NEW = "new"
CANCEL = "cancel"
AMEND = "amend"
MASS_CANCEL = "mass_cancel"
BATCH = "batch"
ORDERS = "orders"
REF = "ref"  # operator accounts only: set an instrument's reference price
HALT, RESUME, HALT_ALL, RESUME_ALL = "halt", "resume", "halt_all", "resume_all"  # operator accounts only
HALT_KINDS = (HALT, RESUME, HALT_ALL, RESUME_ALL)
ORACLE = "oracle"  # oracle accounts only: an update of an oracle instrument's underlying (docs/market-integrity.md 6)
# balances, with risk on only (docs/balances.md 14)
DEPOSIT = "deposit"  # operator accounts only (the embedded custodian): credit an account
WITHDRAW = "withdraw"  # an account's own funds; operators for any account
FEES = "fees"  # operator accounts only: a fee tier's rates
TIER = "tier"  # operator accounts only: an account's fee tier
BALANCES = "balances"  # an account's total and held per asset (its own; operators any account's)
BALANCE_KINDS = (DEPOSIT, WITHDRAW, FEES, TIER, BALANCES)

# gateway -> client (order entry)
REPORTS = "reports"
ERROR = "error"

# market data (PUB) and snapshots (ROUTER)
MD_UPDATE = "md"
MD_HEARTBEAT = "hb"
MD_STATUS = "status"  # an instrument's trading status and its call's indicative (docs/market-integrity.md)
MD_BAND = "band"  # an oracle instrument's new price band: reference, low, high, source
MD_ORACLE = "oracle"  # an oracle instrument's accepted oracle update (or its going stale)
SNAPSHOT = "snapshot"
TOPIC_END = "|"  # a market data topic is the symbol followed by this character
L3_UPDATE = "l3"  # order-by-order feed (serve --l3)
L3_SNAPSHOT = "snapshot_l3"
L3_TOPIC_END = "#"  # an L3 topic is the symbol followed by this character
L3_OPS = ("add", "cancel", "amend", "delete")  # and "fill"

# execution report fields, by position
R_EV, R_SEQ, R_TS, R_REQ, R_CL, R_OID, R_SYM, R_SIDE, R_PX, R_QTY, R_OPEN, R_REASON, R_ROLE = range(13)
REPORT_FIELDS = ("ev", "seq", "ts", "req", "cl_oid", "oid", "sym", "side", "px", "qty", "open", "reason", "role")

R_FEE = 13  # a fill's report with risk on: the account's own fee (maker_fee or taker_fee)

# execution report kinds
EV_ACCEPTED, EV_FILL, EV_CANCELED, EV_AMENDED, EV_REJECTED = "accepted", "fill", "canceled", "amended", "rejected"
# balance reports (risk on): [ev, seq, ts, req, asset, amount, total, held, id]
EV_BALANCE, EV_DEPOSITED, EV_WITHDRAWN = "balance", "deposited", "withdrawn"
BALANCE_EVS = (EV_BALANCE, EV_DEPOSITED, EV_WITHDRAWN)
BALANCE_FIELDS = ("ev", "seq", "ts", "req", "asset", "amount", "total", "held", "id")

SIDE_TEXT = ("buy", "sell")
REASON_TEXT = {int(k): v for k, v in REASON_NAMES.items()}
REASON_CODES = {v: int(k) for k, v in REASON_NAMES.items()}

MAX_U63 = (1 << 63) - 1
MAX_CL_OID_LEN = 36

assert SIDE_TEXT[Side.BUY] == "buy" and SIDE_TEXT[Side.SELL] == "sell"


def topic(symbol: str) -> bytes:
    """The PUB topic of one symbol's market data."""
    return (symbol + TOPIC_END).encode()


def l3_topic(symbol: str) -> bytes:
    """The PUB topic of one symbol's L3 (order-by-order) feed."""
    return (symbol + L3_TOPIC_END).encode()


def reason_text(code: int) -> str:
    """The wire name of a reason code."""
    return REASON_TEXT.get(code, "none")

