"""Prometheus metrics of a running venue (docs/metrics.md): counted per batch with numpy, read at scrape time."""
from __future__ import annotations

import ipaddress
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from kabuto.engine.codes import REASON_NAMES, Ev
from kabuto.engine.instruments import Instrument
from kabuto.engine.records import EVENT_DTYPE, empty_events
from kabuto.gateway.errors import ConfigError
from kabuto.gateway.protocol import VIAS
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

KINDS = max(Ev) + 1
BUFFER = 8192  # events kept between two counts
EVENT_BYTES = EVENT_DTYPE.itemsize
REASONS = 128  # the reason field is an int8
ACCEPTED, FILL, CANCELED, REJECTED = int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED), int(Ev.REJECTED)
BATCH_BUCKETS = tuple(float(1 << i) for i in range(13))  # 1 .. 4096 commands
ROUND_TRIP_BUCKETS = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
FSYNC_BUCKETS = (5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5)


def parse_address(text: str) -> tuple[str, int]:
    """(host, port) of a listening address given as PORT (loopback) or HOST:PORT (an IP address or localhost)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    bad = ConfigError(f"{text!r}: give PORT or HOST:PORT (HOST an IP address or localhost, PORT 0..65535)")
    if not port.isdigit() or int(port) > 65535 or not host:
        raise bad
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise bad from None
    return host, int(port)


class Histogram:
    """Bucket counts of one series, bumped by one thread, read by the scrape thread."""

    def __init__(self, bounds: Sequence[float]):
        self.bounds = list(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one value."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        """The histogram as Prometheus exposes it (cumulative buckets)."""
        counts = list(self.counts)
        total, buckets = 0, []
        for bound, n in zip(self.bounds + [float("inf")], counts):
            total += n
            buckets.append((_le(bound), total))
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=self.sum)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class VenueMetrics:
    """A pipeline wire stage (deliver: batch size, round trip) and event sink (handle: counts by kind, symbol
    and reason), appended after the ZeroMQ stage; its collector turns them into metrics when scraped."""

    def __init__(self, instruments: Sequence[Instrument]):
        self.symbols = [i.symbol for i in instruments]
        self.lots = np.array([float(i.lot_size) for i in instruments], np.float64)
        n = len(self.symbols) + 1  # index 0: events without a symbol (sym -1)
        self.n_sym = n
        self.by_sym = np.zeros(KINDS * n, np.int64)          # [kind * n + sym + 1]
        self.by_reason = np.zeros(KINDS * REASONS, np.int64)  # [kind * REASONS + reason]
        self.volume = np.zeros(n - 1, np.float64)            # lots traded per symbol
        self._buf = empty_events(BUFFER)  # events of the batches since the last fold
        self._bytes = self._buf.view(np.uint8)
        self._pos = 0
        self._lock = threading.Lock()
        self.batch = Histogram(BATCH_BUCKETS)
        self.round_trip = Histogram(ROUND_TRIP_BUCKETS)
        self.fsync = Histogram(FSYNC_BUCKETS)

    def deliver(self, batch, events, first_seq: int) -> None:
        """After the ZeroMQ stage sent the batch: its command count and round trip."""
        n = len(batch.cmds)
        if n:
            self.round_trip.observe((time.time_ns() - batch.t0) * 1e-9)
            self.batch.observe(n)

    def handle(self, events: np.ndarray, first_seq: int) -> None:
        """Keep one batch's events for counting: one byte copy into a buffer, counted when it fills or
        when scraped (fold)."""
        n = len(events)
        raw = (events if events.flags.c_contiguous else np.ascontiguousarray(events)).view(np.uint8)
        with self._lock:
            pos = self._pos
            if pos + n > len(self._buf):
                self._fold()
                pos = 0
                if n > len(self._buf):
                    self._count(events)
                    return
            size = EVENT_BYTES
            self._bytes[pos * size:(pos + n) * size] = raw
            self._pos = pos + n

    def fold(self) -> None:
        """Count the buffered events now (the scrape thread, before it reads the counts)."""
        with self._lock:
            self._fold()

    def _fold(self) -> None:
        if self._pos:
            self._count(self._buf[:self._pos])
            self._pos = 0

    def _count(self, events: np.ndarray) -> None:
        """Add events to the counts by kind and symbol, kind and reason, and fill volume (lock held)."""
        kind = events["kind"].astype(np.intp)
        sym = events["sym"]
        n, m = len(self.by_sym), len(self.by_reason)  # (a kind added to Ev later is not counted, never a crash)
        self.by_sym += np.bincount(kind * self.n_sym + (sym + 1), minlength=n)[:n]
        self.by_reason += np.bincount(kind * REASONS + events["reason"], minlength=m)[:m]
        fills = kind == FILL
        if fills.any():
            self.volume += np.bincount(sym[fills], weights=events["qty"][fills], minlength=len(self.volume))

    def close(self) -> None:
        """Nothing to release (the HTTP thread is a daemon)."""

    def count(self, kind: int) -> np.ndarray:
        """Counted events of a kind per symbol (a copy, in instrument order)."""
        n = self.n_sym
        return self.by_sym[kind * n + 1:(kind + 1) * n].copy()

    def reasons(self, kind: int) -> np.ndarray:
        """Events of a kind per reason code (a copy)."""
        return self.by_reason[kind * REASONS:(kind + 1) * REASONS].copy()


class VenueCollector:
    """Builds every kabuto_* metric at scrape time from the counts and the venue's objects, read lazily."""

    def __init__(self, metrics: VenueMetrics, server, journal=None, chain=None):
        self.m = metrics
        self.server = server
        self.journal = journal  # durability.recovery.Durability (jdir, last_seq) or None
        self.chain = chain      # the chain batcher (status()) or None

    def collect(self) -> Iterator:
        """Every metric of docs/metrics.md."""
        m = self.m
        m.fold()
        yield self._per_symbol("kabuto_orders_accepted", "New orders the engine accepted.", m.count(ACCEPTED))
        yield self._per_reason("kabuto_rejects", "Rejected reports by reason.", m.reasons(REJECTED))
        yield self._per_reason("kabuto_cancels", "Canceled reports by reason.", m.reasons(CANCELED))
        yield self._per_symbol("kabuto_fills", "Fills (taker/maker matches).", m.count(FILL))
        yield self._per_symbol("kabuto_traded_volume", "Quantity traded in base units.", m.volume * m.lots)
        yield m.batch.family("kabuto_batch_commands", "Commands per engine batch.")
        yield m.round_trip.family("kabuto_round_trip_seconds",
                                  "First command's arrival to the batch's reports handed to ZeroMQ.")
        sessions = GaugeMetricFamily("kabuto_sessions", "Logged-on sessions by protocol.", labels=["via"])
        for via, n in self._sessions().items():
            sessions.add_metric([via], n)
        yield sessions
        yield GaugeMetricFamily("kabuto_engine_last_seq", "The engine's last event sequence number.",
                                value=self.server.engine.seq)
        if self.journal is not None:
            yield m.fsync.family("kabuto_journal_fsync_seconds", "Journal fdatasync latency.")
            yield GaugeMetricFamily("kabuto_journal_bytes", "Bytes of the journal's segment files.",
                                    value=journal_bytes(self.journal.jdir))
            yield GaugeMetricFamily("kabuto_journal_last_record", "Sequence number of the last journal record.",
                                    value=self.journal.last_seq)
        if self.chain is not None:
            st = self.chain.status()
            yield GaugeMetricFamily("kabuto_chain_pending_fills", "Fills in no chain batch yet.",
                                    value=st["pending_fills"])
            yield GaugeMetricFamily("kabuto_chain_queued_batches", "Chain batches queued, not yet published.",
                                    value=st["queued_batches"])
            yield GaugeMetricFamily("kabuto_chain_last_batch", "Newest published chain batch (-1: none).",
                                    value=st["next_batch"] - 1 - st["queued_batches"])

    def _per_symbol(self, name: str, doc: str, values: np.ndarray) -> CounterMetricFamily:
        c = CounterMetricFamily(name, doc, labels=["symbol"])
        for sym, v in zip(self.m.symbols, values.tolist()):
            c.add_metric([sym], v)
        return c

    def _per_reason(self, name: str, doc: str, values: np.ndarray) -> CounterMetricFamily:
        c = CounterMetricFamily(name, doc, labels=["reason"])
        for code, text in REASON_NAMES.items():
            if code:  # NONE is no reason
                c.add_metric([text], int(values[int(code)]))
        return c

    def _sessions(self) -> dict[str, int]:
        for _ in range(10):  # the matching thread may resize the dict while it is copied
            try:
                sessions = list(self.server.entry.sessions.values())
                break
            except RuntimeError:
                continue
        else:
            sessions = []
        out = dict.fromkeys(VIAS, 0)
        for s in sessions:
            out[s.via] = out.get(s.via, 0) + 1
        return out


def journal_bytes(jdir: Path) -> int:
    """Total size of the journal's segment files."""
    total = 0
    try:
        with os.scandir(jdir) as it:
            for e in it:
                if e.name.endswith(".wal"):
                    try:
                        total += e.stat().st_size
                    except OSError:  # pruned meanwhile
                        pass
    except OSError:
        pass
    return total


def serve_metrics(address: tuple[str, int], server, journal=None, chain=None) -> str:
    """Attach metrics to a bound venue (its pipeline, its journal's fsyncs) and start their HTTP thread;
    returns the URL it serves. ConfigError when the address cannot be bound."""
    host, port = address
    m = VenueMetrics(server.instruments)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VenueCollector(m, server, journal, chain))
    ProcessCollector(registry=registry)
    try:
        httpd, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        raise ConfigError(f"--metrics {host}:{port}: cannot listen: {e.strerror}") from None
    server.pipeline.stages.append(m)
    server.sinks.append(m)
    writer = getattr(journal, "writer", None)
    if writer is not None:
        writer.observe_sync = m.fsync.observe
    bound = httpd.server_address
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return f"http://{shown}:{bound[1]}/metrics"
