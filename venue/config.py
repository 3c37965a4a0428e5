"""The gateway's configuration: one frozen, typed record, checked when it is made."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from kabuto.gateway.errors import ConfigError

DEFAULT_ORDERS = "tcp://127.0.0.1:5555"
DEFAULT_MARKET_DATA = "tcp://127.0.0.1:5556"
DEFAULT_SNAPSHOTS = "tcp://127.0.0.1:5557"


@dataclass(frozen=True)
class GatewayConfig:
    """Everything `kabuto serve` can be told; defaults are the embedded development venue."""
    data_dir: Path = Path("kabuto-data")
    instruments: Path | None = None          # None: the built-in default instruments
    orders: str = DEFAULT_ORDERS             # ROUTER for order entry (clients use DEALER)
    market_data: str = DEFAULT_MARKET_DATA   # PUB: L2 updates and trades
    snapshots: str = DEFAULT_SNAPSHOTS       # ROUTER: book snapshots on request
    insecure: bool = False                   # plain text, account named at logon (localhost development only)
    keys: Path | None = None                 # client key file; None: DATA_DIR/clients.toml
    cod_timeout: float = 5.0                 # seconds without a message before a session is dropped
    rate_limit: int = 20_000                 # order commands per second per session (0: no limit)
    max_live_orders: int = 10_000            # live orders per account
    max_frame: int = 1 << 20                 # bytes; a larger frame drops the connection (ZMQ_MAXMSGSIZE)
    max_batch: int = 1000                    # commands in one batch frame
    md_heartbeat: float = 1.0                # seconds between market data heartbeats per symbol
    batch_target: int = 4096                 # commands gathered before an engine call, at most
    operators: tuple[str, ...] = ()          # accounts allowed to set reference prices (`ref`)
    l3: bool = False                         # also publish the order-by-order (L3) feed

    def __post_init__(self) -> None:
        for name in ("cod_timeout", "md_heartbeat"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive")
        for name in ("max_live_orders", "max_frame", "max_batch", "batch_target"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.rate_limit < 0:
            raise ConfigError("rate_limit must be 0 (off) or positive")
        for name in ("orders", "market_data", "snapshots"):
            ep = getattr(self, name)
            if not ep.startswith(("tcp://", "ipc://", "inproc://")):
                raise ConfigError(f"{name} endpoint {ep!r} must start with tcp://, ipc:// or inproc://")

    @property
    def key_file(self) -> Path:
        """The client key file in use."""
        return self.keys if self.keys is not None else self.data_dir / "clients.toml"

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every option."""
        return [f.name for f in fields(cls)]
