"""The durability package's exception hierarchy."""


class DurabilityError(Exception):
    """Base of every error the durability package raises."""


class JournalError(DurabilityError):
    """The journal cannot be written, or is corrupt where it cannot be a torn last write."""
