"""The FIX adapter's exception hierarchy."""


class FixError(Exception):
    """Base of every error the FIX adapter package raises."""


class ConfigError(FixError):
    """The users file, store directory or a command line option is invalid."""


class StoreError(FixError):
    """A session store file is unreadable or inconsistent."""


class SessionError(FixError):
    """The FIX initiator SDK got no answer in time, or the counterparty ended the session."""
