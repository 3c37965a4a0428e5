"""The ZeroMQ venue process: sockets around the venue's pipeline, run by one thread that owns every book.

    ROUTER frames -> Decoder -> OrderEntry (sessions, throttles) -> Sequencer -> venue Pipeline:
        journal.append -> Engine.process -> this wire stage (deliver: Fanout, one numba pass writing
        execution reports and market data as msgpack -> sockets) -> event sinks

One thread, because CPython threads would only take turns on the GIL: the stages are plain
objects called in order, and a batch of commands crosses into the numba kernel once.
"""
from __future__ import annotations

import gc
import json
import os
import select
import sys
import time
from collections.abc import Callable, Iterable, Sequence

import msgpack
import numpy as np
import zmq
from kabuto.engine.assets import Risk
from kabuto.engine.codes import Reason
from kabuto.engine.engine import Engine
from kabuto.engine.instruments import Instrument, load_instruments
from kabuto.engine.jitcall import DirectCall
from kabuto.engine.records import empty_commands
from kabuto.gateway import answers
from kabuto.gateway import protocol as P
from kabuto.gateway.config import GatewayConfig
from kabuto.gateway.decoder import COMMANDS, Decoder
from kabuto.gateway.errors import ConfigError, ProtocolError
from kabuto.gateway.fanout import Fanout
from kabuto.gateway.fastentry import HEAD as FAST_HEAD
from kabuto.gateway.fastentry import NEW_HEAD, parse, word_table
from kabuto.gateway.fastentry import warm as warm_entry
from kabuto.gateway.frames import FRAME_L3, FRAME_MD, FRAME_REPORTS
from kabuto.gateway.keys import ZAP_DOMAIN, KeyAuthenticator, ensure_key_file, server_keys
from kabuto.gateway.marketdata import MarketData
from kabuto.venue.entry import OrderEntry
from kabuto.venue.errors import Refused
from kabuto.venue.orderrows import N_FIELDS
from kabuto.venue.ordertable import file_todo
from kabuto.venue.pipeline import Pipeline
from kabuto.venue.sequencer import Sequencer
from zmq.utils.monitor import parse_monitor_message

TICK = 0.1                 # seconds between housekeeping rounds (session timeouts, heartbeats)
MAX_FRAMES_PER_ROUND = 4096
# a batch runs once it holds this many commands (docs/protocol.md, Fairness), unless --batch-target says:
FAIR_CUT = 256     # bounds what a lone order waits behind while other sessions flood
SYNCED_CUT = 4096  # when each batch waits for its own fdatasync, which small batches would pay over and over
HWM = 100_000
SWITCH_INTERVAL = 0.0002   # seconds a thread may keep the GIL while another one waits
# plain ints: pyzmq's enum flags cost microseconds per operation in Python's enum code
SNDMORE = int(zmq.SNDMORE | zmq.NOBLOCK)
NOBLOCK = int(zmq.NOBLOCK)
EVENTS, POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)
SRCFD, DISCONNECTED = int(zmq.SRCFD), int(zmq.EVENT_DISCONNECTED)
R_MALFORMED, R_NOT_AUTHORIZED, R_UNKNOWN_SYMBOL = (int(Reason.MALFORMED), int(Reason.NOT_AUTHORIZED),
                                                   int(Reason.UNKNOWN_SYMBOL))
R_FROZEN = int(Reason.FROZEN)
# what a session may still ask once the vault froze (docs/balances.md 13.6): everything else is refused `frozen`
FROZEN_KINDS = {P.LOGON, P.LOGOUT, P.HEARTBEAT, P.ORDERS, P.BALANCES}
_pack = msgpack.Packer().pack


def bindable(endpoint: str) -> str:
    """A tcp endpoint with port 0 becomes zmq's wildcard port."""
    if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
        return endpoint[:-1] + "*"
    return endpoint


class Server:
    """A running venue: bind(), then run() until stop() (safe to call from a signal handler)."""

    def __init__(self, config: GatewayConfig, instruments: Sequence[Instrument] | None = None,
                 journal=None, sinks: Iterable = (), context: zmq.Context | None = None, risk: Risk | None = None):
        self.config = config
        self.instruments = list(instruments) if instruments is not None else load_instruments(
            str(config.instruments) if config.instruments else None)
        # balances, holds and fees (docs/balances.md): "@fees" is account 0, interned before any other
        self.risk = risk if risk is not None and risk.enabled else None
        self.engine = Engine(self.instruments, risk=self.risk, fee_acct=0) if self.risk else Engine(self.instruments)
        self.engine.process(empty_commands(0))  # load the compiled kernel now, not on the first order
        self.sequencer = Sequencer((config.batch_target or SYNCED_CUT) + config.max_batch)
        self.decoder = Decoder(self.instruments, config.max_batch, self.risk)
        self.fanout = Fanout(self.instruments, l3=config.l3, risk=self.risk)
        self.fanout.warm(self.engine.state)
        warm_entry(self.instruments)
        self._rids: dict[int, bytes] = {}  # session slot -> routing id
        self.pipeline = Pipeline(self.engine, self.sequencer, journal, sinks, stages=[self])
        self.run_batch = self.pipeline.run_batch
        self.entry = OrderEntry(config, self.instruments, self.sequencer, routes=self._routes, flush=self.run_batch,
                                risk=self.risk is not None)
        self.symbol_list = [i.symbol for i in self.instruments]
        self.specs = answers.instrument_specs(self.instruments)
        # the fast path's parse: its keyword tables and the rows it reads orders into
        self.words, self.word_off = word_table(self.instruments)
        self.rows = np.zeros((config.max_batch, N_FIELDS), np.int64)
        self._parse = DirectCall(parse)  # always the same argument types
        self.market_data = MarketData(self.instruments, self._publish, self.fanout.tables.md_seq,
                                      self.fanout.tables.l3_seq if config.l3 else None)
        self.market_data.sync_status(self.engine)
        self.symbols = {ins.symbol: i for i, ins in enumerate(self.instruments)}
        self._ctx = context or zmq.Context.instance()
        self._auth: KeyAuthenticator | None = None
        self._monitor: zmq.Socket | None = None  # the orders socket's disconnection events
        self._stop = False
        self.housekeeping: list[Callable[[], None]] = []  # called every round of TICK (a vault feed's take, ...)
        self.endpoints: dict[str, str] = {}
        self.server_public: bytes | None = None

    # ------------------------------------------------------------------ sockets

    def bind(self) -> dict[str, str]:
        """Create and bind every socket; returns the endpoints actually bound (and writes endpoints.json)."""
        cfg = self.config
        secret = None
        try:
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
            if not cfg.insecure:
                if cfg.keys is None:
                    ensure_key_file(cfg.data_dir, cfg.key_file)
                elif not cfg.keys.exists():
                    raise ConfigError(f"key file {cfg.keys} does not exist")
                self.server_public, secret = server_keys(cfg.data_dir)
        except OSError as e:
            raise ConfigError(f"data directory {cfg.data_dir}: {e.strerror}: {e.filename}") from None
        if not cfg.insecure:
            self._auth = KeyAuthenticator(self._ctx, cfg.key_file)
            self._auth.start()
            self.entry.keys = self._auth.accounts
        self.orders = self._socket(zmq.ROUTER, secret)
        self.orders.setsockopt(zmq.MAXMSGSIZE, cfg.max_frame)
        # a closed connection ends its session at once: libzmq says which descriptor closed, and
        # every message tells the descriptor it came in on (ZMQ_SRCFD), recorded at logon
        self._monitor = self.orders.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.pub = self._socket(zmq.PUB, secret)
        self.snaps = self._socket(zmq.ROUTER, secret)
        self.snaps.setsockopt(zmq.MAXMSGSIZE, 4096)
        for name, sock, ep in (("orders", self.orders, cfg.orders), ("market_data", self.pub, cfg.market_data),
                               ("snapshots", self.snaps, cfg.snapshots)):
            try:
                sock.bind(bindable(ep))
            except zmq.ZMQError as e:
                raise ConfigError(f"cannot bind {name} to {ep}: {e}") from None
            self.endpoints[name] = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._write_endpoints()
        return self.endpoints

    def _socket(self, kind: int, secret: bytes | None) -> zmq.Socket:
        s = self._ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDHWM, HWM)
        s.setsockopt(zmq.RCVHWM, HWM)
        if secret is not None:
            s.setsockopt(zmq.CURVE_SERVER, 1)
            s.setsockopt(zmq.CURVE_SECRETKEY, secret)
            s.setsockopt_string(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
        return s

    def _write_endpoints(self) -> None:
        doc = {"version": P.VERSION, **self.endpoints, "secure": not self.config.insecure,
               "server_key": self.server_public.decode() if self.server_public else None,
               "symbols": list(self.symbols)}
        path = self.config.data_dir / "endpoints.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, path)

    def _reply(self, rid: bytes, msg: list) -> None:
        # two plain sends: cheaper than send_multipart; ROUTER drops (never blocks) for a peer that
        # is gone or does not read
        send = self.orders.send
        send(rid, SNDMORE)
        send(_pack(msg), NOBLOCK)

    def _routes(self, by_account: list[list[int]], session_accounts: dict[int, int]) -> None:
        self._rids = {s.slot: s.rid for s in self.entry.sessions.values()}
        self.fanout.set_routes(by_account, session_accounts)

    def _publish(self, topic: bytes, body: bytes) -> None:
        send = self.pub.send
        send(topic, SNDMORE)
        send(body, NOBLOCK)

    # ------------------------------------------------------------------ the loop

    def stop(self) -> None:
        """Ask run() to finish its current round and return."""
        self._stop = True

    def run(self) -> None:
        """Serve until stop(): read, sequence, match, report, publish."""
        # Long-lived objects (engine, sockets, tables) are moved out of the collector's sight, and
        # young collections run every 50,000 allocations instead of 700: a batch allocates a
        # few objects per event, and default thresholds spent half the report stage in gc.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        # A sink's background thread (the chain batcher hashes fills) holds the GIL up to the
        # switch interval at a time; 5 ms by default would be 5 ms added to an order's round trip.
        sys.setswitchinterval(SWITCH_INTERVAL)
        # Sleep on the sockets' file descriptors rather than in zmq_poll: every ZMQ_EVENTS query
        # is a system call (3-4 us here), and zmq_poll makes two per socket per call. ZeroMQ's
        # descriptors are edge-triggered: one only signals again once its socket's commands were
        # processed (by a recv, a send or a ZMQ_EVENTS query), so the orders socket, which the
        # loop also sends on, is asked for ZMQ_EVENTS before every sleep, and the snapshot socket
        # is read until empty whenever its descriptor fired.
        sleeper = select.poll()
        orders_fd, snaps_fd = self.orders.getsockopt(zmq.FD), self.snaps.getsockopt(zmq.FD)
        monitor_fd = self._monitor.getsockopt(zmq.FD)
        sleeper.register(orders_fd, select.POLLIN)
        sleeper.register(snaps_fd, select.POLLIN)
        sleeper.register(monitor_fd, select.POLLIN)
        orders_events = self.orders.getsockopt
        snaps_due = True
        next_tick = time.monotonic()
        next_hb = next_tick + self.config.md_heartbeat
        while not self._stop:
            if orders_events(EVENTS) & POLLIN:
                self._read_orders(time.monotonic())
            else:
                woke = sleeper.poll(max(0, int((next_tick - time.monotonic()) * 1000) + 1))
                for fd, _ in woke:
                    if fd == snaps_fd:
                        snaps_due = True
                    elif fd == monitor_fd:
                        self._disconnects()
                    else:
                        self._read_orders(time.monotonic())
            if self.sequencer.pending:
                self.run_batch()
            if snaps_due:
                snaps_due = self._serve_snapshots()
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + TICK
                self._disconnects()  # (the monitor's descriptor is not watched while orders keep coming)
                self._check_keys()
                for job in self.housekeeping:
                    job()
                if self.sequencer.pending:
                    self.run_batch()
                if self.entry.expire(now) and self.sequencer.pending:
                    self.run_batch()
                if self.engine.next_timer <= time.time_ns():  # a call's indicative or end is due
                    self.sequencer.tick()
                    self.run_batch()
                if now >= next_hb:
                    next_hb = now + self.config.md_heartbeat
                    self.market_data.heartbeat()
        if self.sequencer.pending:
            self.run_batch()

    @property
    def batch_cut(self) -> int:
        """Commands after which the batch being collected runs (docs/protocol.md, Fairness)."""
        if self.config.batch_target is not None:
            return self.config.batch_target
        return SYNCED_CUT if getattr(self.pipeline.journal, "fsync", None) == "always" else FAIR_CUT

    def _read_orders(self, now: float) -> None:
        # Frames come in libzmq's fair-queued order, one per connection in turn: that is the
        # sessions' turns; the batch runs once it holds batch_cut commands (a frame is never split).
        secure = not self.config.insecure
        recv = self.orders.recv
        option = self.orders.getsockopt
        target = self.batch_cut
        for _ in range(MAX_FRAMES_PER_ROUND):
            try:
                rid = recv(NOBLOCK)
            except zmq.Again:
                return
            # a Frame tells `more` and the sender's User-Id without the socket option calls that
            # make recv_multipart cost twice as much
            frame = recv(NOBLOCK, copy=False)
            user = frame.get("User-Id") if secure else None
            s = self.entry.session_for(rid, user)
            if s is not None:  # any frame on its connection proves the session alive, readable or not
                s.last_seen = now
            if frame.more:
                while recv(NOBLOCK, copy=False).more:
                    pass
                self._answer(rid, answers.error(None, R_MALFORMED, "one frame per message"))
                continue
            self._on_frame(rid, frame, user, s, now)
            # asking is about half the cost of a recv that raises Again
            if self.sequencer.count >= target or not option(EVENTS) & POLLIN:
                return

    def _on_frame(self, rid: bytes, frame: zmq.Frame, user: str | None, s, now: float) -> None:
        """One frame of connection rid (its session s, or None)."""
        entry = self.entry
        payload = frame.bytes
        if s is not None and not entry.frozen and (payload.startswith(FAST_HEAD) or payload[1:5] == NEW_HEAD):
            if self._new_orders(s, payload, now):  # plain new orders: the fast path
                return
        try:
            kind, req, body = self.decoder.decode(payload)
            if entry.frozen and kind not in FROZEN_KINDS:
                raise ProtocolError(R_FROZEN, "the vault is frozen: the venue takes no more commands", req)
            if kind == COMMANDS:
                if s is None:
                    raise ProtocolError(R_NOT_AUTHORIZED, "log on first", req)
                entry.commands(s, body, now)
                return
            if self.sequencer.pending:
                self.run_batch()  # answers leave in the order the requests came
            if kind == P.LOGON:
                # disconnections first: a descriptor the kernel gave a closed connection can be this one's
                self._disconnects()
                self._check_keys()  # a key added a moment ago is in (the ZAP handler let it connect)
                name, cod, via = body
                s = entry.logon(rid, user, req, name, cod, now, frame.get(SRCFD), via=via)
                self._reply(rid, answers.logged_on(s, req, self.config, self.symbol_list, self.specs))
                return
            if s is None:
                raise ProtocolError(R_NOT_AUTHORIZED, "log on first", req)
            if kind == P.HEARTBEAT:
                self._reply(rid, answers.heartbeat(req))
            elif kind == P.LOGOUT:
                entry.logout(s)
                self._reply(rid, answers.logged_out(req))
            elif kind == P.REF:
                sym, px = body
                mant, exp = self.decoder.decimals.parts(px)
                entry.ref(s, req, sym, mant, exp, px if type(px) is str else str(px))
            elif kind in P.HALT_KINDS:
                entry.halt(s, req, kind, body)
            elif kind == P.ORACLE:
                entry.oracle(s, req, body, self.decoder.decimals.parts)
            elif kind in P.BALANCE_KINDS:
                self._balance_request(rid, s, req, kind, body)
            else:
                orders = entry.open_orders(s, req, body)
                self._reply(rid, answers.open_orders(req, orders, self.symbol_list, self.fanout.px_open,
                                                     self.market_data.px, self.market_data.qty))
        except Refused as e:
            self._answer(rid, answers.error(e.req, e.reason, str(e)))

    def _balance_request(self, rid: bytes, s, req: int, kind: str, body) -> None:
        """deposit, withdraw, fees, tier (sequenced, answered after their batch) and balances (answered now)."""
        entry = self.entry
        if kind == P.DEPOSIT:
            entry.deposit(s, req, *body)
        elif kind == P.WITHDRAW:
            entry.withdraw(s, req, *body)
        elif kind == P.FEES:
            entry.fees(s, req, *body)
        elif kind == P.TIER:
            entry.tier(s, req, *body)
        else:
            name, acct = entry.balances_of(s, req, body)
            self._reply(rid, answers.balances(req, name, acct, self.engine.state.a_bal, self.risk))

    def _new_orders(self, s, payload: bytes, now: float) -> bool:
        """A frame of plain, valid new orders through the compiled parser; False: not such a frame (or
        over the rate limit), for the decoder and the session stage's commands() to handle."""
        b = np.frombuffer(payload, np.uint8)
        rows = self.rows
        k, _, texts = self._parse(b, len(b), self.words, self.word_off, len(self.instruments), len(rows), rows)
        return k > 0 and self.entry.new_orders(s, rows, k, b, payload, texts, now)

    def _check_keys(self) -> None:
        """Read the key file if it changed; a key no longer in it ends its sessions."""
        if self._auth is not None:
            self._auth.reload()
            if self._auth.accounts is not self.entry.keys:  # (the ZAP thread may have read it first)
                for s in self.entry.rekey(self._auth.accounts):
                    self._reply(s.rid, answers.error(None, R_NOT_AUTHORIZED,
                                                     "this key was revoked: the session has ended"))

    def _disconnects(self) -> None:
        """End the sessions whose connection closed (libzmq's monitor events, in the order they happened)."""
        recv = self._monitor.recv_multipart
        while True:
            try:
                event = parse_monitor_message(recv(NOBLOCK))
            except zmq.Again:
                return
            if event["event"] == DISCONNECTED:
                self.entry.disconnected(int(event["value"]))

    def _answer(self, rid: bytes, msg: list) -> None:
        if self.sequencer.pending:
            self.run_batch()
        self._reply(rid, msg)

    @property
    def journal(self):
        """The pipeline's journal."""
        return self.pipeline.journal

    @journal.setter
    def journal(self, journal) -> None:
        self.pipeline.journal = journal

    @property
    def sinks(self) -> list:
        """The pipeline's event sinks (append to add one)."""
        return self.pipeline.sinks

    def deliver(self, batch, events, first: int) -> None:
        """The wire stage: send the batch's reports, acknowledgements and market data; file its orders."""
        if events is not None:
            fan = self.fanout
            fan.reserve(len(batch.cmds))
            frames, todo, out = fan.run(events, first, batch.cmds, batch.cm, batch.t0, time.time_ns(),
                                        self.engine.state)
            frames = frames.tolist()
            view = memoryview(out)
            send = self.orders.send
            rids = self._rids
            for kind, slot, a, b in frames:
                if kind == FRAME_REPORTS:
                    send(rids[slot], SNDMORE)
                    send(view[a:b], NOBLOCK)
        for m in batch.acks:
            self._reply(m.session.rid, answers.acknowledged(m, batch.cm, events, batch.t0))
        if events is not None:
            send = self.pub.send
            topics = self.market_data.topics
            for kind, sym, a, b in frames:
                if kind == FRAME_MD:
                    send(topics[sym], SNDMORE)
                    send(view[a:b], NOBLOCK)
                elif kind == FRAME_L3:
                    send(self.market_data.l3_topics[sym], SNDMORE)
                    send(view[a:b], NOBLOCK)
            view.release()
            if self.fanout.status_events:
                self.market_data.publish_status(events)
            if len(todo):  # after the sends: only the next frames read the tables it updates
                file_todo(self.fanout.recs, todo.tolist(), batch.meta)

    def _serve_snapshots(self) -> bool:
        """Answer waiting snapshot requests; True when it stopped with requests left (next round)."""
        for _ in range(MAX_FRAMES_PER_ROUND):
            try:
                parts = self.snaps.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return False
            envelope, payload = parts[:-1], parts[-1]
            self.snaps.send_multipart(envelope + [_pack(self._snapshot(payload))], zmq.NOBLOCK)
        return True

    def _snapshot(self, payload: bytes) -> list:
        try:
            msg = msgpack.unpackb(payload)
        except Exception:
            return [P.ERROR, None, P.reason_text(R_MALFORMED), "not a msgpack message"]
        ok = (type(msg) is list and len(msg) == 3 and msg[0] in (P.SNAPSHOT, P.L3_SNAPSHOT)
              and type(msg[2]) is str)
        req = msg[1] if ok and type(msg[1]) is int and 0 <= msg[1] <= P.MAX_U63 else None
        if req is None:
            return [P.ERROR, None, P.reason_text(R_MALFORMED),
                    "snapshot is [\"snapshot\" or \"snapshot_l3\", req, symbol]"]
        sym = self.symbols.get(msg[2])
        if sym is None:
            return [P.ERROR, req, P.reason_text(R_UNKNOWN_SYMBOL), f"unknown symbol {msg[2]!r}"]
        if msg[0] == P.SNAPSHOT:
            return self.market_data.snapshot(self.engine, sym, req)
        if self.market_data.l3_seq is None:
            return [P.ERROR, req, P.reason_text(R_MALFORMED), "this venue publishes no L3 feed (serve --l3)"]
        return self.market_data.snapshot_l3(self.engine, sym, req)

    def close(self) -> None:
        """Close sinks, journal and sockets, every one even when one fails; then raise the first failure."""
        errors = []
        try:
            self.pipeline.close()
        except Exception as e:
            errors.append(e)
        if self._monitor is not None:
            self.orders.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None
        for s in (getattr(self, "orders", None), getattr(self, "pub", None), getattr(self, "snaps", None)):
            if s is not None:
                s.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if errors:
            raise errors[0]


def warmup() -> None:
    """Compile the gateway's kernels (`kabuto warmup`): the fan-out pass and its table upkeep."""
    instruments = load_instruments()
    fan = Fanout(instruments, slots=16)
    fan.warm(Engine(instruments).state)
    fan.reserve(64)  # grows the table and rehashes it
    fan.restore(1, 0, 0, 0, 100, 1, "cl")
    warm_entry(instruments)
