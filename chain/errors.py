"""The chain package's exception hierarchy."""


class ChainError(Exception):
    """Base of every error the chain package raises."""


class LedgerError(ChainError):
    """The local ledger file is unreadable, corrupt, or does not match what is being appended."""


class PublishError(ChainError):
    """A publisher could not commit a batch right now (node down, transaction dropped or reverted)."""


class ProofError(ChainError):
    """A fill or proof is unknown or does not verify."""


class ContractError(ChainError):
    """The registry contract cannot be compiled, deployed or reached."""
