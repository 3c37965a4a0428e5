"""The REST adapter's exception hierarchy and the map from venue reason names to Binance-style error codes."""
from __future__ import annotations

# reason name -> (HTTP status, code) where the reason alone decides; the others depend on the request
# (a new order's reject is -2010, a cancel's -2011); see docs/rest-websocket.md, "Errors"
REASON_ERRORS: dict[str, tuple[int, int]] = {
    "unknown_symbol": (400, -1121),
    "rate_limit": (429, -1003),
    "not_authorized": (401, -2015),
}
NEW_REJECTED = -2010      # a new order (or amend) the venue rejected
CANCEL_REJECTED = -2011   # a cancel the venue rejected
NO_SUCH_ORDER = -2013     # an order query naming no order the adapter or the venue knows
VENUE_DOWN = -1001        # the venue did not answer in time


class RestError(Exception):
    """Base of the adapter's errors; an HTTP error answer {"code", "msg", "reason"} when it reaches a client."""

    def __init__(self, status: int, code: int, msg: str, reason: str | None):
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.reason = reason

    def body(self) -> dict:
        """The JSON error body."""
        return {"code": self.code, "msg": self.msg, "reason": self.reason}


class ConfigError(RestError):
    """An option or the API key file is invalid (the adapter does not start)."""

    def __init__(self, msg: str):
        super().__init__(500, -1000, msg, None)


class BadRequest(RestError):
    """A parameter is missing, unknown or not of its type: reason `malformed`."""

    def __init__(self, code: int, msg: str):
        super().__init__(400, code, msg, "malformed")


class Unauthorized(RestError):
    """A missing or unknown API key, a bad signature, a stale or replayed timestamp: reason `not_authorized`."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(status, code, msg, "not_authorized")


class TooManyRequests(RestError):
    """The API key (or address) used up its request weight or order count: reason `rate_limit`."""

    def __init__(self, msg: str, retry_after: int):
        super().__init__(429, -1003, msg, "rate_limit")
        self.retry_after = retry_after


class VenueUnavailable(RestError):
    """The venue did not answer in time."""

    def __init__(self, msg: str):
        super().__init__(503, VENUE_DOWN, msg, None)


def venue_error(reason: str, msg: str, default_code: int) -> RestError:
    """The error for a venue reject or error answer with this reason, for a request whose own code is default_code."""
    status, code = REASON_ERRORS.get(reason, (400, default_code))
    return RestError(status, code, msg, reason)
