"""The gateway package's exception hierarchy."""


class GatewayError(Exception):
    """Base of every error the gateway package raises."""


class ConfigError(GatewayError):
    """A gateway option, key file or data directory is invalid."""


class ProtocolError(GatewayError):
    """A frame cannot be read as a request: answered with an `error` message, never sequenced."""

    def __init__(self, reason: int, text: str, req: int | None = None):
        super().__init__(text)
        self.reason = reason
        self.req = req


class JournalError(GatewayError):
    """The journal cannot be written, or is corrupt where it cannot be a torn last write."""


class ClientError(GatewayError):
    """The client SDK got an error answer or no answer in time."""


class NotAuthorized(ClientError):
    """The gateway refused the client's key or session."""
