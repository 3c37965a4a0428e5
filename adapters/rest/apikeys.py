"""API keys: the key file (key, secret, account), HMAC-SHA256 request signatures, receive windows and replays."""
from __future__ import annotations

import hashlib
import heapq
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from kabuto.adapters.rest.errors import BadRequest, ConfigError, Unauthorized
from kabuto.gateway.config import read_tables
from kabuto.venue.accounts import ACCOUNT_RE

API_KEY_HEADER = "X-KABUTO-APIKEY"
DEFAULT_RECV_WINDOW = 5000  # ms
MAX_RECV_WINDOW = 60000     # ms
FUTURE_TOLERANCE = 1000     # ms a timestamp may run ahead of the adapter's clock
KEY_CHARS = 64              # a generated key and secret: 64 hex characters each


@dataclass(frozen=True)
class ApiKey:
    """One API key: its secret and the venue account it trades for."""
    key: str
    secret: str
    account: str


def load_api_keys(path: Path) -> dict[str, ApiKey]:
    """Map from API key to ApiKey, read from a TOML file of [[api_key]] tables (key, secret, account)."""
    out: dict[str, ApiKey] = {}
    for i, entry in enumerate(read_tables(path, "API key file", "api_key", ConfigError), 1):
        if set(entry) != {"key", "secret", "account"}:
            raise ConfigError(f"API key file {path}: api_key #{i} needs exactly key, secret and account")
        if not all(isinstance(entry[f], str) and entry[f] for f in ("key", "secret")):
            raise ConfigError(f"API key file {path}: api_key #{i}: key and secret must be non-empty strings")
        if not isinstance(entry["account"], str) or not ACCOUNT_RE.fullmatch(entry["account"]):
            raise ConfigError(f"API key file {path}: api_key #{i}: bad account name {entry['account']!r}")
        if entry["key"] in out:
            raise ConfigError(f"API key file {path}: api_key #{i}: the key is listed twice")
        out[entry["key"]] = ApiKey(entry["key"], entry["secret"], entry["account"])
    return out


def new_api_key(path: Path, account: str) -> ApiKey:
    """Create a random key and secret for an account and append them to the key file."""
    if not ACCOUNT_RE.fullmatch(account):
        raise ConfigError(f"bad account name {account!r}")
    k = ApiKey(secrets.token_hex(KEY_CHARS // 2), secrets.token_hex(KEY_CHARS // 2), account)
    with open(path, "a", encoding="utf-8") as f:
        f.write(f'\n[[api_key]]\nkey = "{k.key}"\nsecret = "{k.secret}"\naccount = "{account}"\n')
    return k


def sign(secret: str, payload: str) -> str:
    """The hex HMAC-SHA256 of a request's parameter text."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def split_signature(text: str) -> tuple[str, str | None]:
    """(text without a trailing `signature=` parameter, the signature or None)."""
    if text.startswith("signature="):
        return "", text[len("signature="):]
    head, sep, sig = text.rpartition("&signature=")
    return (head, sig) if sep else (text, None)


class Verifier:
    """Checks signed requests: known key, HMAC over query + body, timestamp inside recvWindow, no replay."""

    def __init__(self, keys: dict[str, ApiKey]):
        self.keys = keys
        self._seen: dict[str, set[str]] = {k: set() for k in keys}  # key -> signatures still inside their window
        self._expiry: dict[str, list[tuple[int, str]]] = {k: [] for k in keys}  # key -> heap of (expiry ms, sig)

    def key(self, api_key: str | None) -> ApiKey:
        """The ApiKey named by the header; Unauthorized when it is missing or unknown."""
        if not api_key:
            raise Unauthorized(401, -2014, f"API-key header {API_KEY_HEADER} missing")
        k = self.keys.get(api_key)
        if k is None:
            raise Unauthorized(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return k

    def verify(self, api_key: str | None, query: str, body: str, params: dict[str, str]) -> ApiKey:
        """The ApiKey of a correctly signed, fresh, first-seen request; raises Unauthorized or BadRequest."""
        k = self.key(api_key)
        q, qsig = split_signature(query)
        b, bsig = split_signature(body)
        sig = qsig if qsig is not None else bsig
        if sig is None or (qsig is not None and bsig is not None) or "signature=" in q + b:
            raise BadRequest(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed "
                                    "(it is sent once, as the last parameter of the query string or of the body).")
        sig = sig.lower()
        ts = _int_param(params, "timestamp", required=True)
        window = _int_param(params, "recvWindow", required=False)
        window = DEFAULT_RECV_WINDOW if window is None else window
        if not 0 < window <= MAX_RECV_WINDOW:
            raise BadRequest(-1130, f"recvWindow must be 1 to {MAX_RECV_WINDOW} ms")
        if not hmac.compare_digest(sign(k.secret, q + b), sig):
            raise Unauthorized(400, -1022, "Signature for this request is not valid.")
        now = time.time_ns() // 1_000_000
        if ts > now + FUTURE_TOLERANCE or now - ts > window:
            raise Unauthorized(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        seen, expiry = self._seen[k.key], self._expiry[k.key]
        while expiry and expiry[0][0] < now:  # past its window a request is refused by its timestamp anyway
            seen.discard(heapq.heappop(expiry)[1])
        if sig in seen:
            raise Unauthorized(400, -1021, "This request was sent before (replayed signature).")
        seen.add(sig)
        heapq.heappush(expiry, (ts + window, sig))
        return k


def _int_param(params: dict[str, str], name: str, required: bool) -> int | None:
    v = params.get(name)
    if v is None:
        if required:
            raise BadRequest(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        return None
    if not v.isdigit() or len(v) > 18:
        raise BadRequest(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,18}}$'.")
    return int(v)
