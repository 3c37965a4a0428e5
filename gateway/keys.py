"""CurveZMQ keys: the server key pair, the client key file (public key -> account) and the ZAP handler."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from kabuto.gateway.config import read_tables
from kabuto.gateway.errors import ConfigError
from kabuto.venue.accounts import ACCOUNT_RE
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

Z85_KEY_LEN = 40
ZAP_DOMAIN = "kabuto"
DEMO_ACCOUNTS = ("mm1", "mm2", "trader")
KEY_FILE_HEADER = ("# Kabuto client key file: each [[client]] maps a CurveZMQ public key (Z85, 40 characters)\n"
                   "# to the account it trades for. An account may have several keys.\n")


@dataclass(frozen=True)
class Credentials:
    """What a client needs to reach a CURVE gateway: its key pair and the server's public key (Z85)."""
    public: bytes
    secret: bytes
    server: bytes


def keys_dir(data_dir: Path) -> Path:
    """Where certificates live inside a data directory."""
    return Path(data_dir) / "keys"


def _check_account(name) -> str:
    if not isinstance(name, str) or not ACCOUNT_RE.fullmatch(name):
        raise ConfigError(f"bad account name {name!r}: 1 to 64 of A-Z a-z 0-9 . _ -")
    return name


def load_key_file(path: Path) -> dict[bytes, str]:
    """Map from Z85 public key to account name; unknown fields and bad keys are errors."""
    out: dict[bytes, str] = {}
    for i, entry in enumerate(read_tables(path, "key file", "client"), 1):
        if set(entry) != {"account", "public_key"}:
            raise ConfigError(f"key file {path}: client #{i} needs exactly account and public_key")
        key = entry["public_key"]
        if not isinstance(key, str) or len(key) != Z85_KEY_LEN:
            raise ConfigError(f"key file {path}: client #{i}: public_key must be 40 Z85 characters")
        try:
            z85.decode(key)
        except Exception:
            raise ConfigError(f"key file {path}: client #{i}: public_key is not Z85") from None
        out[key.encode()] = _check_account(entry["account"])
    return out


def _append_client(key_file: Path, account: str, public: bytes) -> None:
    new = not key_file.exists()
    with open(key_file, "a", encoding="utf-8") as f:
        if new:
            f.write(KEY_FILE_HEADER)
        f.write(f'\n[[client]]\naccount = "{account}"\npublic_key = "{public.decode()}"\n')


def add_client(data_dir: Path, key_file: Path, account: str) -> Path:
    """Create a client key pair for an account and register it; returns the secret certificate file."""
    _check_account(account)
    kd = keys_dir(data_dir)
    kd.mkdir(parents=True, exist_ok=True)
    if (kd / f"{account}.key_secret").exists():
        raise ConfigError(f"{kd / account}.key_secret exists already")
    public_file, secret_file = zmq.auth.create_certificates(str(kd), account)
    os.chmod(secret_file, 0o600)
    public, _ = zmq.auth.load_certificate(public_file)
    _append_client(key_file, account, public)
    return Path(secret_file)


def server_keys(data_dir: Path) -> tuple[bytes, bytes]:
    """The server's (public, secret) key pair, generated into DATA_DIR/keys on first use."""
    kd = keys_dir(data_dir)
    secret_file = kd / "server.key_secret"
    if not secret_file.exists():
        kd.mkdir(parents=True, exist_ok=True)
        _, sf = zmq.auth.create_certificates(str(kd), "server")
        os.chmod(sf, 0o600)
    public, secret = zmq.auth.load_certificate(str(secret_file))
    if secret is None:
        raise ConfigError(f"{secret_file} holds no secret key")
    return public, secret


def ensure_key_file(data_dir: Path, key_file: Path) -> list[str]:
    """Create the key file with demo accounts when it does not exist; returns the accounts created."""
    if key_file.exists():
        return []
    key_file.parent.mkdir(parents=True, exist_ok=True)
    for name in DEMO_ACCOUNTS:
        if not (keys_dir(data_dir) / f"{name}.key_secret").exists():
            add_client(data_dir, key_file, name)
        else:
            public, _ = zmq.auth.load_certificate(str(keys_dir(data_dir) / f"{name}.key"))
            _append_client(key_file, name, public)
    return list(DEMO_ACCOUNTS)


def client_credentials(data_dir: Path, account: str, server_public: bytes | None = None) -> Credentials:
    """Credentials from DATA_DIR/keys/ACCOUNT.key_secret and the server's public key."""
    kd = keys_dir(data_dir)
    try:
        public, secret = zmq.auth.load_certificate(str(kd / f"{account}.key_secret"))
        if server_public is None:
            server_public, _ = zmq.auth.load_certificate(str(kd / "server.key"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load keys for {account} from {kd}: {e}") from None
    return Credentials(public, secret, server_public)


class KeyAuthenticator(ThreadAuthenticator):
    """ZAP handler: a CURVE client is let in when its key is in the key file; its User-Id is its key (Z85).

    The key file is read again when it changes, so keys can be added while the venue runs; the
    gateway maps each message's key to its account through `accounts`, so a key removed from the
    file (or given to another account) stops trading on connections already open too."""

    def __init__(self, context: zmq.Context, key_file: Path):
        super().__init__(context)
        self.key_file = Path(key_file)
        self._mtime = -1.0
        self._keys: dict[bytes, str] = {}
        self.reload()
        self.configure_curve_callback(ZAP_DOMAIN, self)

    def reload(self) -> None:
        """Read the key file again if it changed (keeping the previous keys when it is broken)."""
        try:
            mtime = self.key_file.stat().st_mtime
        except OSError:
            return
        if mtime != self._mtime:
            try:
                self._keys = load_key_file(self.key_file)
                self._mtime = mtime
            except ConfigError as e:
                self.log.error("%s (keeping the previous keys)", e)

    @property
    def accounts(self) -> dict[bytes, str]:
        """The current map from Z85 public key to account (a new dict whenever the file changed)."""
        return self._keys

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP credentials check: the Z85 key must be in the key file."""
        self.reload()
        return key in self._keys

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The User-Id delivered with every message of an accepted connection: its key, in Z85."""
        return z85.encode(client_public_key).decode()
