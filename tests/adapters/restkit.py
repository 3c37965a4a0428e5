"""Helpers for the REST adapter tests: a `kabuto rest` subprocess and a signing HTTP client over real TCP."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from kabuto.adapters.rest.apikeys import API_KEY_HEADER, ApiKey, new_api_key, sign
from kabuto.gateway.keys import add_client

from tests.gateway.gatewaykit import ServeProcess, Venue, start_venue

KABUTO = str(Path(sys.executable).with_name("kabuto"))
READY = re.compile(r"listening on (http://\S+)")
RISK_TOML = Path(__file__).resolve().parents[1] / "risk" / "risk.toml"


class RestProcess:
    """A `kabuto rest` subprocess on a free port in front of the venue in data_dir."""

    def __init__(self, data_dir: Path, api_keys: Path, extra: list[str] = ()):
        self.proc = subprocess.Popen([KABUTO, "rest", "--data-dir", str(data_dir), "--api-keys", str(api_keys),
                                      "--port", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: list[str] = []
        self.url: str | None = None
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 60
        while self.url is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("kabuto rest did not start:\n" + "".join(self.lines))
            time.sleep(0.02)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            m = READY.search(line)
            if m:
                self.url = m.group(1)

    def stop(self) -> int:
        """SIGTERM and the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=30)


_last_ts = [0]


def fresh_timestamp() -> int:
    """Milliseconds now, never the same twice: the adapter refuses a signed request it has seen (a replay)."""
    _last_ts[0] = max(time.time_ns() // 1_000_000, _last_ts[0] + 1)
    return _last_ts[0]


class Http:
    """A REST client: public and signed requests, answers as (status, headers, JSON body)."""

    def __init__(self, url: str, key: ApiKey | None = None):
        self.url = url
        self.key = key

    def raw(self, method: str, path: str, query: str = "", body: str | bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict, object]:
        """One request exactly as given."""
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.url + path + ("?" + query if query else ""), data=data, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read())

    def get(self, path: str, **params) -> tuple[int, dict, object]:
        """A public GET."""
        return self.raw("GET", path, urllib.parse.urlencode(params))

    def signed_query(self, params: dict, key: ApiKey | None = None, timestamp: int | None = None) -> str:
        """The query string of a signed request: params, timestamp, then the signature."""
        key = key or self.key
        params = dict(params)
        params.setdefault("timestamp", timestamp if timestamp is not None else fresh_timestamp())
        q = urllib.parse.urlencode(params)
        return q + "&signature=" + sign(key.secret, q)

    def signed(self, method: str, path: str, key: ApiKey | None = None, **params) -> tuple[int, dict, object]:
        """A signed request with its parameters in the query string."""
        key = key or self.key
        return self.raw(method, path, self.signed_query(params, key), headers={API_KEY_HEADER: key.key})

    def ok(self, method: str, path: str, **params) -> object:
        """A signed request that must succeed: its JSON body."""
        status, _, body = self.signed(method, path, **params)
        assert status == 200, (status, body)
        return body


def api_keys(path: Path, accounts: list[str]) -> dict[str, ApiKey]:
    """Create an API key file with one key per account."""
    return {a: new_api_key(path, a) for a in accounts}


OPERATOR = "trent"
TRADERS = ["alice", "bob", "carol", "dave", "erin", "mm1"]


class RestVenue:
    """A venue (gatewaykit.start_venue, CurveZMQ) with `kabuto rest` in front: API keys for TRADERS."""

    def __init__(self, data_dir: Path, extra_rest: list[str] = (), risk: bool = False):
        self.data_dir = data_dir
        for name in (OPERATOR, "victor"):  # victor: gatewaykit.raw_snapshot's; the traders' the adapter provisions
            add_client(data_dir, data_dir / "clients.toml", name)
        if risk:  # the balances tests' instruments (docs/balances.md 11), risk on
            self.serve = ServeProcess(["--data-dir", str(data_dir), "--instruments", str(RISK_TOML), "--risk",
                                       "--operators", OPERATOR, "--no-chain", "--orders", "tcp://127.0.0.1:0",
                                       "--market-data", "tcp://127.0.0.1:0", "--snapshots", "tcp://127.0.0.1:0"])
            self.serve.wait_for("ready")
        else:
            self.serve = start_venue(data_dir, ["--operators", OPERATOR, "--no-chain"])
        self.venue = Venue(data_dir, self.serve)
        self.key_file = data_dir / "api-keys.toml"
        self.keys = api_keys(self.key_file, TRADERS)
        try:
            self.rest = RestProcess(data_dir, self.key_file, list(extra_rest))
        except BaseException:
            self.serve.stop()
            raise
        self.url = self.rest.url

    def http(self, account: str | None = None) -> Http:
        """A client signing with the account's API key."""
        return Http(self.url, self.keys[account] if account else None)

    def stop(self) -> tuple[int, int]:
        """Stop the adapter, then the venue: both exit statuses."""
        self.venue.close_clients()
        return self.rest.stop(), self.serve.stop()
