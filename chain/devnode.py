"""A small local EVM node: eth-tester (py-evm) served over HTTP JSON-RPC on loopback, like a tiny anvil.

Lets a separate process (a venue, a publisher killed with SIGKILL, the `kabuto` command) talk to the same
chain a test or an example inspects, and lets a test take the node down and bring it back on the same port.
Development and tests only: one in-memory chain, every account's key known.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3


def _jsonable(v):
    """eth-tester results as JSON-RPC wants them: quantities and bytes as 0x hex."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return hex(v)
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, Mapping):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


class EvmNode:
    """eth-tester behind http://127.0.0.1:PORT; snapshot/revert for reorgs, stop/start for outages."""

    def __init__(self):
        self.tester = EthereumTester(PyEVMBackend())
        self._w3 = Web3(EthereumTesterProvider(self.tester))
        self._call = self._w3.provider.request_func(self._w3, self._w3.middleware_onion)
        self.keys = [k.to_hex() for k in self.tester.backend.account_keys]
        self.lock = threading.Lock()  # eth-tester is not thread-safe
        self.port = 0
        self.server = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve (again, on the same port after a stop)."""
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = [node.handle(r) for r in req] if isinstance(req, list) else node.handle(req)
                body = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Take the node down: connections are refused until start()."""
        self.server.shutdown()
        self.server.server_close()

    def handle(self, req: dict) -> dict:
        """One JSON-RPC request."""
        out = {"jsonrpc": "2.0", "id": req.get("id")}
        try:
            with self.lock:
                resp = self._call(req["method"], req.get("params", []))
        except Exception as e:  # a reverting call or gas estimate: a node's error answer, not a dropped connection
            out["error"] = {"code": 3 if "revert" in str(e) else -32000, "message": str(e)}
            return out
        if "error" in resp:
            err = resp["error"]
            out["error"] = err if isinstance(err, dict) else {"code": -32000, "message": str(err)}
        else:
            out["result"] = _jsonable(resp.get("result"))
        return out

    def mine(self, n: int = 1) -> None:
        """Mine n empty blocks."""
        with self.lock:
            self.tester.mine_blocks(n)

    def time_travel(self, seconds: int) -> None:
        """Move the chain's clock forward: the next block is seconds after the latest one."""
        with self.lock:
            self.tester.time_travel(self.tester.get_block_by_number("latest")["timestamp"] + seconds)

    def snapshot(self) -> int:
        """A point to revert to (a reorg back to here drops every later block)."""
        with self.lock:
            return self.tester.take_snapshot()

    def revert(self, snapshot: int) -> None:
        """Drop every block after the snapshot."""
        with self.lock:
            self.tester.revert_to_snapshot(snapshot)

    def web3(self) -> Web3:
        """A Web3 client of this node over HTTP."""
        return Web3(Web3.HTTPProvider(self.url, exception_retry_configuration=None))
