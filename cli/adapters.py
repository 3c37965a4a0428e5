"""`kabuto serve --rest/--fix`: the protocol adapters as child processes of the venue, with demo credentials.

Each adapter is its own process in front of the venue (docs/rest-websocket.md, docs/fix.md); the venue
starts them once its sockets are bound and stops them (SIGTERM) before it stops itself, so that one
command (`make run`) brings up every protocol. Without a credentials file of its own, an adapter gets a
demo one in the data directory for the demo accounts (mm1, mm2, trader), with random secrets, made once.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kabuto.gateway.keys import DEMO_ACCOUNTS

log = logging.getLogger(__name__)
API_KEYS = "api-keys.toml"
FIX_USERS = "fix-users.toml"


def add_options(p: argparse.ArgumentParser) -> None:
    """serve's options for the adapters."""
    p.add_argument("--rest", type=_host_port, metavar="[HOST:]PORT",
                   help="also run the REST/WebSocket adapter (`kabuto rest`, docs/rest-websocket.md) on HOST:PORT "
                        "(PORT alone: 127.0.0.1), with --api-keys (default: DATA_DIR/api-keys.toml, created with "
                        "demo keys for mm1, mm2 and trader when missing)")
    p.add_argument("--api-keys", type=Path, metavar="FILE", help="the REST adapter's API key file")
    p.add_argument("--fix", type=_host_port, metavar="[HOST:]PORT",
                   help="also run the FIX 4.4 adapter (`kabuto fix`, docs/fix.md) on HOST:PORT (PORT alone: "
                        "127.0.0.1), with --fix-users (default: DATA_DIR/fix-users.toml, created with demo users "
                        "MM1, MM2 and TRADER when missing)")
    p.add_argument("--fix-users", type=Path, metavar="FILE", help="the FIX adapter's users file")


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: give [HOST:]PORT, PORT from 0 to 65535")
    return host or "127.0.0.1", int(port)


def demo_api_keys(data_dir: Path) -> Path:
    """DATA_DIR/api-keys.toml, made with a random key and secret per demo account when missing."""
    from kabuto.adapters.rest.apikeys import new_api_key
    path = data_dir / API_KEYS
    if not path.exists():
        path.touch(mode=0o600)
        for account in DEMO_ACCOUNTS:
            new_api_key(path, account)
        log.info(f"rest        demo API keys for {', '.join(DEMO_ACCOUNTS)} written to {path}")
    return path


def demo_fix_users(data_dir: Path) -> Path:
    """DATA_DIR/fix-users.toml, made with a user per demo account (SenderCompID its name in capitals, a random
    password) when missing."""
    path = data_dir / FIX_USERS
    if not path.exists():
        text = "".join(f'[[user]]\nsender_comp_id = "{a.upper()}"\npassword = "{secrets.token_hex(12)}"\n'
                       f'account = "{a}"\n\n' for a in DEMO_ACCOUNTS)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        log.info(f"fix         demo users {', '.join(a.upper() for a in DEMO_ACCOUNTS)} written to {path}")
    return path


def start(args: argparse.Namespace, data_dir: Path) -> list[subprocess.Popen]:
    """Start the adapters serve's options ask for; returns their processes."""
    me = [sys.executable, "-m", "kabuto.cli.main"]
    keys = ["--keys", str(args.keys)] if args.keys else []
    procs = []
    if args.rest is not None:
        host, port = args.rest
        api_keys = args.api_keys or demo_api_keys(data_dir)
        procs.append(subprocess.Popen([*me, "rest", "--data-dir", str(data_dir), "--api-keys", str(api_keys), *keys,
                                       "--host", host, "--port", str(port)]))
    if args.fix is not None:
        host, port = args.fix
        users = args.fix_users or demo_fix_users(data_dir)
        procs.append(subprocess.Popen([*me, "fix", "--data-dir", str(data_dir), "--fix-users", str(users), *keys,
                                       "--host", host, "--port", str(port)]))
    return procs


def stop_then(procs: list[subprocess.Popen], then: Callable[[], None], housekeeping: list,
              timeout: float = 15.0) -> None:
    """SIGTERM every adapter now and call `then` (the venue's stop) from the venue's housekeeping rounds once
    they all exited, or after timeout seconds: an adapter logs its venue sessions out, which needs a venue
    that still answers."""
    if not procs:
        then()
        return
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout

    def check() -> None:
        if time.monotonic() > deadline or all(p.poll() is not None for p in procs):
            then()
    housekeeping.append(check)


def stop(procs: list[subprocess.Popen], timeout: float = 30.0) -> None:
    """SIGTERM every adapter and wait for it (SIGKILL after timeout)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
