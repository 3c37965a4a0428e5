"""The gateway package's exception hierarchy."""
from kabuto.venue.errors import Refused


class GatewayError(Exception):
    """Base of every error the gateway package raises."""


class ConfigError(GatewayError):
    """A gateway option, key file or data directory is invalid."""


class ProtocolError(GatewayError, Refused):
    """A frame cannot be read as a request: answered with an `error` message, never sequenced."""


class ClientError(GatewayError):
    """The client SDK got an error answer or no answer in time."""


class NotAuthorized(ClientError):
    """The gateway refused the client's key or session."""
