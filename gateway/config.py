"""The ZeroMQ gateway's configuration: the venue core's options plus its sockets, keys and feeds."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from kabuto.gateway.errors import ConfigError
from kabuto.venue.config import VenueConfig

DEFAULT_ORDERS = "tcp://127.0.0.1:5555"
DEFAULT_MARKET_DATA = "tcp://127.0.0.1:5556"
DEFAULT_SNAPSHOTS = "tcp://127.0.0.1:5557"


@dataclass(frozen=True)
class GatewayConfig(VenueConfig):
    """Everything `kabuto serve` can be told; defaults are the embedded development venue."""
    orders: str = DEFAULT_ORDERS             # ROUTER for order entry (clients use DEALER)
    market_data: str = DEFAULT_MARKET_DATA   # PUB: L2 updates and trades
    snapshots: str = DEFAULT_SNAPSHOTS       # ROUTER: book snapshots on request
    insecure: bool = False                   # plain text, account named at logon (localhost development only)
    keys: Path | None = None                 # client key file; None: DATA_DIR/clients.toml
    max_frame: int = 1 << 20                 # bytes; a larger frame drops the connection (ZMQ_MAXMSGSIZE)
    md_heartbeat: float = 1.0                # seconds between market data heartbeats per symbol
    l3: bool = False                         # also publish the order-by-order (L3) feed

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.md_heartbeat > 0:
            raise ConfigError("md_heartbeat must be positive")
        if self.max_frame < 1:
            raise ConfigError("max_frame must be at least 1")
        for name in ("orders", "market_data", "snapshots"):
            ep = getattr(self, name)
            if not ep.startswith(("tcp://", "ipc://", "inproc://")):
                raise ConfigError(f"{name} endpoint {ep!r} must start with tcp://, ipc:// or inproc://")

    @property
    def key_file(self) -> Path:
        """The client key file in use."""
        return self.keys if self.keys is not None else self.data_dir / "clients.toml"


def read_tables(path: Path, what: str, table: str, error: type[Exception] = ConfigError) -> list[dict]:
    """The [[table]] entries of a credentials TOML file (key file, API keys, FIX users); a file that cannot be
    read or parsed, another top-level key or an entry that is not a table raises error naming `what`."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{what} {path}: {e}") from None
    entries = doc.get(table, [])
    if set(doc) - {table} or not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise error(f"{what} {path}: only [[{table}]] tables are allowed")
    return entries
