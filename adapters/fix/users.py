"""The --fix-users file: who may log on (SenderCompID, Username, Password) and which venue account each trades for."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kabuto.adapters.fix.errors import ConfigError
from kabuto.gateway.config import read_tables
from kabuto.venue.accounts import ACCOUNT_RE

COMP_ID_RE = re.compile(r"[\x21-\x7e]{1,64}")
FIELDS = {"sender_comp_id", "password", "account", "username", "cod"}


@dataclass(frozen=True)
class FixUser:
    """One initiator allowed to log on: its SenderCompID, Username (553), Password (554) and venue account."""
    sender_comp_id: str
    username: str
    password: str
    account: str
    cod: bool = False  # cancel the session's orders when it ends (the venue's cancel-on-disconnect)


def load_users(path: Path) -> dict[str, FixUser]:
    """FixUser by SenderCompID from a TOML file of [[user]] tables; any fault is a ConfigError."""
    users: dict[str, FixUser] = {}
    for i, entry in enumerate(read_tables(path, "FIX users file", "user", ConfigError), 1):
        where = f"FIX users file {path}: user #{i}"
        if not {"sender_comp_id", "password", "account"} <= set(entry) <= FIELDS:
            raise ConfigError(f"{where} needs sender_comp_id, password and account (username and cod optional)")
        comp, pw, acct = entry["sender_comp_id"], entry["password"], entry["account"]
        username = entry.get("username", comp)
        if not all(isinstance(x, str) for x in (comp, pw, acct, username)) or not pw:
            raise ConfigError(f"{where}: sender_comp_id, username, password and account are non-empty strings")
        if not COMP_ID_RE.fullmatch(comp) or not COMP_ID_RE.fullmatch(username):
            raise ConfigError(f"{where}: sender_comp_id and username are 1 to 64 printable ASCII characters")
        if not ACCOUNT_RE.fullmatch(acct):
            raise ConfigError(f"{where}: bad account {acct!r}: 1 to 64 of A-Z a-z 0-9 . _ -")
        if not isinstance(entry.get("cod", False), bool):
            raise ConfigError(f"{where}: cod is true or false")
        if comp in users:
            raise ConfigError(f"{where}: sender_comp_id {comp!r} appears twice")
        users[comp] = FixUser(comp, username, pw, acct, entry.get("cod", False))
    return users
