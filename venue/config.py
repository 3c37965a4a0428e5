"""The venue core's configuration: one frozen, typed record, checked when it is made."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from kabuto.venue.errors import ConfigError


@dataclass(frozen=True)
class VenueConfig:
    """What the venue core is told, whatever wire its sessions use; defaults are the development venue."""
    data_dir: Path = Path("kabuto-data")
    instruments: Path | None = None          # None: the built-in default instruments
    cod_timeout: float = 5.0                 # seconds without a message before a session is dropped
    rate_limit: int = 20_000                 # order commands per second per session (0: no limit)
    max_live_orders: int = 10_000            # live orders per account
    max_batch: int = 1000                    # commands in one batch request
    batch_target: int | None = None          # commands after which a batch runs; None: 256, or 4096 when the
    #                                          journal syncs every batch (docs/protocol.md, Fairness)
    operators: tuple[str, ...] = ()          # accounts allowed to set reference prices (`ref`), halt and resume
    oracles: tuple[str, ...] = ()            # accounts allowed to send oracle updates (`oracle`)

    def __post_init__(self) -> None:
        if not self.cod_timeout > 0:
            raise ConfigError("cod_timeout must be positive")
        for name in ("max_live_orders", "max_batch", "batch_target"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.rate_limit < 0:
            raise ConfigError("rate_limit must be 0 (off) or positive")

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every option."""
        return [f.name for f in fields(cls)]
