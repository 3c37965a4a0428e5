"""Helpers for the FIX adapter tests: a `kabuto fix` subprocess in front of a real venue, and initiators."""
from __future__ import annotations

import itertools
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from kabuto.adapters.fix.initiator import Initiator

from tests.gateway.gatewaykit import KABUTO, ServeProcess, start_venue

USERS = ([(f"U{i}", f"pw{i}", f"fixu{i}", False) for i in range(1, 401)]
         + [(f"C{i}", f"cpw{i}", f"fixc{i}", True) for i in range(1, 21)])
PASSWORDS = {comp: pw for comp, pw, _, _ in USERS}


def users_file(path: Path) -> Path:
    """A --fix-users file with every test user."""
    path.write_text("".join(f'[[user]]\nsender_comp_id = "{c}"\npassword = "{p}"\naccount = "{a}"\n'
                            f'cod = {"true" if cod else "false"}\n\n' for c, p, a, cod in USERS))
    return path


class FixProcess:
    """A `kabuto fix` subprocess; its port is read from its ready line."""

    def __init__(self, data_dir: Path, users: Path, extra: list[str] = ()):
        self.proc = subprocess.Popen([KABUTO, "fix", "--data-dir", str(data_dir), "--fix-users", str(users),
                                      "--port", "0", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self._wait_port()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def _wait_port(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                m = re.search(r"ready: .* on [\d.]+:(\d+)", line)
                if m:
                    return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError("kabuto fix exited:\n" + "".join(self.lines))
            time.sleep(0.05)
        raise RuntimeError("kabuto fix not ready:\n" + "".join(self.lines))

    def initiator(self, sender: str, **kw) -> Initiator:
        """A connected (not yet logged on) initiator of a test user."""
        kw.setdefault("password", PASSWORDS.get(sender, ""))
        return Initiator("127.0.0.1", self.port, sender, **kw)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send sig and wait for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


_next_user = itertools.count(1)
_next_cod_user = itertools.count(1)


def fresh_user(cod: bool = False) -> str:
    """A SenderCompID no other test of this process has used (its own session and account)."""
    name = f"C{next(_next_cod_user)}" if cod else f"U{next(_next_user)}"
    assert name in PASSWORDS, "fixkit.USERS has too few users for the tests: add some"
    return name


class FixVenue:
    """A venue (`kabuto serve`) and a `kabuto fix` in front of it."""

    def __init__(self, data_dir: Path, serve_args: list[str] = ()):
        self.data_dir = data_dir
        self.serve_args = list(serve_args)
        self.serve: ServeProcess = start_venue(data_dir, self.serve_args)
        self.users = users_file(data_dir / "fix-users.toml")
        self.fix = FixProcess(data_dir, self.users)

    def restart_fix(self) -> None:
        """Stop the adapter (SIGTERM) and start it again on a new port with the same store."""
        assert self.fix.stop() == 0, "".join(self.fix.lines)
        self.fix = FixProcess(self.data_dir, self.users)

    def restart_serve(self) -> None:
        """Stop the venue (SIGTERM) and start it again on the same data directory and options."""
        assert self.serve.stop() == 0, "".join(self.serve.lines)
        self.serve = start_venue(self.data_dir, self.serve_args)

    @staticmethod
    def fix_account(sender: str) -> str:
        """The venue account a test user trades for."""
        return next(a for c, _, a, _ in USERS if c == sender)

    def stop(self) -> tuple[int, int]:
        """Stop both; their exit statuses."""
        return self.fix.stop(), self.serve.stop()


def body_of(msg) -> dict[int, str]:
    """A received message's fields as a dict (first value of each tag)."""
    out: dict[int, str] = {}
    for tag, value in msg.fields:
        out.setdefault(tag, value)
    return out
