"""The venue core's exception hierarchy."""


class VenueError(Exception):
    """Base of every error the venue package raises."""


class ConfigError(VenueError):
    """A venue option is invalid."""


class Refused(VenueError):
    """A request the venue refuses outright: the wire adapter answers it with an error, nothing is sequenced."""

    def __init__(self, reason: int, text: str, req: int | None = None):
        super().__init__(text)
        self.reason = reason
        self.req = req
