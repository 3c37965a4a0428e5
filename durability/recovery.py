"""Durability of a venue: journal every batch, hash the event stream, snapshot, and recover on start.

Layout under the data directory:

    journal/journal.json           instruments the journal was written with
    journal/<first seq>.wal        segments (gateway/journal.py)
    snapshots/<journal seq>.snap   snapshots (gateway/snapshot.py)

A journal record holds one engine batch as msgpack
`[first event seq, event hash before it, COMMAND_DTYPE bytes, first new account id, new account
names, client order id of each NEW command, cancel-on-disconnect flag of each NEW (bytes)]`: the
commands rebuild the books, the rest rebuilds the gateway's own state, so that after recovery a
client still cancels its order by its client order id. The event hash is
SHA-256(previous hash || raw event records of the batch), first 16 bytes: replay checks it at every record.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import msgpack
import numpy as np
from kabuto.durability.journal import FORMAT, JournalError, JournalReader, JournalWriter, fsync_dir, segments
from kabuto.durability.snapshot import Snapshot, capture, load_newest, snapshot_name, snapshot_seq, write_snapshot
from kabuto.engine.assets import Risk
from kabuto.engine.codes import Op, Reason
from kabuto.engine.engine import Engine
from kabuto.engine.instruments import (
    DEFAULT_INDICATIVE_MS,
    DEFAULT_REOPEN_MS,
    Instrument,
    load_config,
    load_instruments,
    parse_config,
    parse_instruments,
)
from kabuto.engine.records import COMMAND_DTYPE
from kabuto.engine.state import M_DEP
from kabuto.venue.accounts import CL, OID, SESSION, SLOT, new_order
from kabuto.venue.commands import C_COD

log = logging.getLogger(__name__)

NEW = int(Op.NEW)
R_DISCONNECT = int(Reason.DISCONNECT)
ZERO_HASH = bytes(16)
META = "journal.json"
KEEP_SNAPSHOTS = 3
_pack = msgpack.Packer(use_bin_type=True).pack


def chain_hash(prev: bytes, events: np.ndarray) -> bytes:
    """The running event hash after one batch of event records (SHA-256: hardware-accelerated here)."""
    h = hashlib.sha256(prev)
    h.update(np.ascontiguousarray(events).view(np.uint8))
    return h.digest()[:16]


class Owners:
    """Client order id and cancel-on-disconnect wish behind each engine oid entered.

    Appended per batch as arrays (cheap), resolved only for the orders still live at the end."""

    def __init__(self, known: dict | None = None):
        self.known = dict(known or {})  # from a snapshot: oid -> (cl, cod)
        self._oids: list[np.ndarray] = []
        self._cls: list = []
        self._cod = bytearray()

    def add(self, oids: np.ndarray, cls: list, cod: bytes) -> None:
        """The NEW commands of one batch, in order."""
        self._oids.append(oids)
        self._cls.extend(cls)
        self._cod += cod

    def resolve(self, live: list[int]) -> dict:
        """oid -> (cl, cod) of the given oids (the latest NEW wins when an oid was reused)."""
        out = {oid: self.known[oid] for oid in live if oid in self.known}
        if self._oids:
            every = np.concatenate(self._oids)
            idx = np.flatnonzero(np.isin(every, np.array(live, np.int64)))
            for i, oid in zip(idx.tolist(), every[idx].tolist()):
                out[oid] = (self._cls[i], bool(self._cod[i]))
        return out


DEFAULT_CALL_MS = (DEFAULT_REOPEN_MS, DEFAULT_INDICATIVE_MS)


def instrument_specs(instruments: Sequence[Instrument]) -> list:
    """What must not change between the run that wrote a journal and the one reading it."""
    # the call lengths are listed only when not the defaults: journals written before they existed stay valid
    return [[i.symbol, str(i.tick_size), str(i.lot_size), str(i.min_qty),
             None if i.band_pct is None else str(i.band_pct),
             None if i.reference_price is None else str(i.reference_price)]
            + ([i.reopen_ms, i.indicative_ms] if (i.reopen_ms, i.indicative_ms) != DEFAULT_CALL_MS else [])
            + (["oracle", i.oracle.spec()] if i.oracle is not None else [])
            for i in instruments]


def journal_dir(path: Path) -> Path:
    """The journal directory of a data directory (or the journal directory itself)."""
    path = Path(path)
    return path / "journal" if (path / "journal").is_dir() else path


def read_meta(jdir: Path) -> dict:
    """The journal's journal.json (of a journal format this version reads)."""
    try:
        meta = json.loads((jdir / META).read_text())
    except FileNotFoundError:
        raise JournalError(f"{jdir} is not a Kabuto journal (no {META})") from None
    except (OSError, ValueError) as e:
        raise JournalError(f"cannot read {jdir / META}: {e}") from None
    version = meta.get("version") if isinstance(meta, dict) else None
    if type(version) is not int or not 1 <= version <= FORMAT:
        raise JournalError(f"the journal in {jdir} is format {version!r}: this Kabuto reads formats 1 to {FORMAT} "
                           f"(a newer Kabuto wrote it?)")
    return meta


def meta_instruments(meta: dict) -> list[Instrument]:
    """The instruments a journal was written with."""
    text = meta.get("instruments_toml")
    return load_instruments(None) if text is None else parse_instruments(tomllib.loads(text))


def risk_spec(risk: Risk | None) -> list | None:
    """What journal.json records of a venue with risk on (None: risk off), and what must not change between the
    run that wrote a journal and the one reading it: assets, each instrument's legs and unit factors, the fee
    schedule the venue started with."""
    if risk is None or not risk.enabled:
        return None
    return [[[a.name, a.decimals] for a in risk.assets], list(risk.base), list(risk.quote), list(risk.bf),
            list(risk.qf), [list(t) for t in risk.tiers]]


def recorded_risk(data_dir: Path) -> bool | None:
    """Whether the journal of a data (or journal) directory was written with risk on; None when there is no
    journal yet. A journal without the record (older journals among them) was written with risk off."""
    jdir = journal_dir(Path(data_dir))
    if not (jdir / META).exists():
        return None
    return read_meta(jdir).get("risk") is not None


def meta_risk(meta: dict, instruments_toml: str | None = None) -> Risk | None:
    """The balances configuration a journal was written with (None: risk off), from its instruments file
    (or instruments_toml, when given: an instruments file the reader names), checked against the record."""
    spec = meta.get("risk")
    if spec is None:
        return None
    text = instruments_toml if instruments_toml is not None else meta.get("instruments_toml")
    _, risk = load_config(None, True) if text is None else parse_config(tomllib.loads(text), True)
    if risk_spec(risk) != spec:
        raise JournalError("the journal was written with other assets, unit factors or fee tiers than its "
                           "instruments file gives")
    return risk


def journal_engine(jdir: Path, instruments: Sequence[Instrument]) -> Engine:
    """An empty engine as the venue that wrote the journal ran it: with risk on when it did, "@fees" as account 0."""
    risk = meta_risk(read_meta(jdir)) if (jdir / META).exists() else None
    return Engine(instruments, risk=risk, fee_acct=0) if risk is not None else Engine(instruments)


class Applied(NamedTuple):
    """What running journal records through the engine ended with."""
    event_hash: bytes
    records: int
    commands: int
    last_ts: int   # ts of the last command
    top_oid: int   # the highest order id a NEW command entered (0: none)


def apply_records(records: Iterable[tuple[int, memoryview]], engine: Engine, names: list, owners: Owners | None,
                  event_hash: bytes, on_events: Callable | None = None) -> Applied:
    """Run journal records through the engine, checking event numbers and the event hash.

    Extends names (gateway account names by id) and owners (client order ids of NEW commands)."""
    unpack = msgpack.unpackb
    h = event_hash
    count = ncmds = last_ts = top_oid = 0
    for seq, body in records:
        ev_first, prev, raw, first_acct, new_names, cls, cod = unpack(body)
        if ev_first != engine.seq + 1:
            raise JournalError(f"journal record {seq} starts at event {ev_first}, but the engine is at event "
                               f"{engine.seq}: the journal does not continue this state")
        if prev != h:
            raise JournalError(f"journal record {seq}: event hash mismatch: replay diverged from the run that "
                               f"wrote the journal (or the snapshot does not belong to it)")
        if new_names:
            for i, name in enumerate(new_names, first_acct):
                if i == len(names):
                    names.append(name)
                elif i > len(names) or names[i] != name:
                    raise JournalError(f"journal record {seq}: account {i} is {name!r}, expected "
                                       f"{names[i] if i < len(names) else 'nothing'}")
        cmds = np.frombuffer(raw, COMMAND_DTYPE)
        new_oids = cmds["oid"][cmds["op"] == NEW]
        if len(new_oids):
            # every oid the gateway handed out, finished orders included: none is handed out again
            top_oid = max(top_oid, int(new_oids.max()))
        if owners is not None and cls:
            owners.add(new_oids, cls, cod)
        events = engine.process(cmds)
        h = chain_hash(h, events)
        if on_events is not None:
            on_events(events, ev_first, names)
        count += 1
        ncmds += len(cmds)
        if len(cmds):
            last_ts = int(cmds["ts"][-1])
    return Applied(h, count, ncmds, last_ts, top_oid)


def live_orders(engine: Engine) -> list[tuple[int, int, int, int, int, int]]:
    """Every resting order: (oid, acct, sym, side, px ticks, open lots)."""
    out = []
    for sym in range(len(engine.instruments)):
        for side in (0, 1):
            out.extend((oid, acct, sym, side, px, q) for oid, acct, px, q in engine.orders(sym, side))
    return out


@dataclass
class Recovered:
    """The state rebuilt from a data directory."""
    engine: Engine
    names: list           # gateway account names by engine account id
    owners: Owners        # client order id and cancel-on-disconnect of the orders entered
    next_oid: int         # above every order id ever handed out (snapshot's, and every NEW replayed)
    last_ts: int          # the newest command timestamp (the sequencer goes on above it)
    event_hash: bytes
    last_seq: int         # the last journal record the state includes
    records: int          # journal records replayed
    commands: int
    snapshot: Path | None
    reader: JournalReader
    torn: object          # durability.journal.Torn or None

    def digest(self) -> str:
        """A hash of the whole engine state and event count: equal states, equal digests."""
        h = hashlib.blake2b(digest_size=16)
        h.update(str(self.engine.seq).encode())
        for a in self.engine.state:
            h.update(np.ascontiguousarray(a).view(np.uint8))
        return h.hexdigest()


def recover_state(data_dir: Path, instruments: Sequence[Instrument], use_snapshot: bool = True,
                  engine: Engine | None = None,
                  max_snapshot_seq: int | None = None, on_events: Callable | None = None,
                  cut_corrupt_tail: bool = False) -> Recovered:
    """Newest valid snapshot (unless use_snapshot is False; at event max_snapshot_seq or before, if
    given) plus the journal after it, through the kernel; on_events(events, first seq, account names)
    sees every replayed batch. cut_corrupt_tail: a corrupt end of the journal is to be cut, not refused."""
    data_dir = Path(data_dir)
    engine = engine if engine is not None else journal_engine(data_dir / "journal", instruments)
    snap = load_newest(data_dir / "snapshots", max_snapshot_seq) if use_snapshot else None
    names: list[str] = []
    owners = Owners()
    next_oid, after, event_hash, last_ts = 1, 0, ZERO_HASH, 0
    if snap is not None:
        if snap.symbols != [i.symbol for i in instruments]:
            raise JournalError(f"snapshot {snap.path} was taken with other instruments")
        engine.state, engine.seq, event_hash = snap.state, snap.seq, snap.event_hash
        gw = snap.gateway
        names = list(gw["accounts"])
        next_oid = gw["next_oid"]
        last_ts = gw.get("last_ts", 0)
        owners = Owners({oid: (cl, cod) for oid, cl, cod in gw["orders"]})
        after = snap.journal_seq
    reader = JournalReader(data_dir / "journal", cut_corrupt_tail)
    done = apply_records(reader.scan(after), engine, names, owners, event_hash, on_events)
    return Recovered(engine, names, owners, max(next_oid, done.top_oid + 1), max(last_ts, done.last_ts),
                     done.event_hash, max(reader.last_seq, after), done.records, done.commands,
                     snap.path if snap else None, reader, reader.torn)


class Durability:
    """The venue's journal (server.journal) and event sink (hash, snapshots); recover() runs first."""

    def __init__(self, data_dir: Path, instruments: Sequence[Instrument], instruments_toml: str | None = None,
                 fsync: str = "always", batch_ms: float = 0.0, snapshot_every: int = 1_000_000,
                 segment_bytes: int = 64 << 20, prune_journal: bool = False,
                 truncate_corrupt_tail: bool = False, risk: Risk | None = None):
        self.jdir = Path(data_dir) / "journal"
        self.sdir = Path(data_dir) / "snapshots"
        self.instruments = list(instruments)
        self.instruments_toml = instruments_toml
        self.risk = risk if risk is not None and risk.enabled else None  # recorded in journal.json (risk on)
        self.fsync, self.batch_ms, self.segment_bytes = fsync, batch_ms, segment_bytes
        self.snapshot_every = snapshot_every
        self.prune_journal = prune_journal  # delete segments the kept snapshots make unnecessary
        self.truncate_corrupt_tail = truncate_corrupt_tail  # the operator's word to cut a corrupt journal end
        self._format = FORMAT  # of the journal found on start
        self.writer: JournalWriter | None = None
        self.server = None
        self.event_hash = ZERO_HASH
        self.accounts_logged = 0
        self.since_snapshot = 0
        self.last_seq = 0
        self.last_ts = 0
        # a batch journaled but not yet through the engine, the fan-out and this sink: engine state,
        # gateway tables and event hash disagree until it is, so no snapshot may be taken meanwhile
        self._in_flight = False
        self._snapshot_due = False
        self._snapshotting: threading.Thread | None = None  # a snapshot being written
        self._closed = False

    # ------------------------------------------------------------------ start

    def _check_meta(self) -> None:
        specs = instrument_specs(self.instruments)
        if (self.jdir / META).exists():
            meta = read_meta(self.jdir)
            if meta.get("instruments") != specs:
                raise JournalError(f"the journal in {self.jdir} was written with other instruments; "
                                   f"start with the same instruments file or another --data-dir")
            if meta.get("risk") != risk_spec(self.risk):
                on = "on" if meta.get("risk") is not None else "off"
                other = " and other assets, unit factors or fee tiers" if on == "on" and self.risk else ""
                raise JournalError(f"the journal in {self.jdir} was written with risk {on}{other}; start with the "
                                   f"same instruments file or another --data-dir")
            self._format = meta["version"]
            return
        meta = {"instruments": specs, "instruments_toml": self.instruments_toml}
        if self.risk is not None:  # a journal without it was written with risk off (older journals stay valid)
            meta["risk"] = risk_spec(self.risk)
        self._write_meta(meta)

    def _write_meta(self, meta: dict) -> None:
        try:
            self.jdir.mkdir(parents=True, exist_ok=True)
            tmp = self.jdir / (META + ".tmp")
            with open(tmp, "w") as f:
                json.dump({**meta, "version": FORMAT}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.jdir / META)
            fsync_dir(self.jdir)
        except OSError as e:
            raise JournalError(f"cannot create journal in {self.jdir}: {e.strerror}") from None

    def recover(self, server) -> str:
        """Load the newest snapshot and the journal after it into server; open the journal; one line summary."""
        self.server = server
        self._check_meta()
        for tmp in self.sdir.glob("*.tmp"):  # a snapshot a crash interrupted before its rename
            tmp.unlink(missing_ok=True)
        # A sink that commits events elsewhere (the chain fill batcher) may lag the journal: a crash
        # loses what it held in memory. It gets the replayed events after what it has committed, so
        # recovery starts from a snapshot no later than that (or from the journal's start).
        behind = [(s, s.committed_seq()) for s in server.sinks if hasattr(s, "committed_seq")]
        upto = min((seq for _, seq in behind), default=None)
        accounts = server.entry.accounts

        def refeed(events: np.ndarray, first: int, names: list) -> None:
            for name in names[len(accounts.by_id):]:  # the sinks name accounts by id
                accounts.get(name)
            for sink, committed in behind:
                i = max(0, committed + 1 - first)
                if i < len(events):
                    sink.handle(events[i:], first + i)

        r = recover_state(self.jdir.parent, self.instruments, engine=server.engine,
                          max_snapshot_seq=upto, on_events=refeed if behind else None,
                          cut_corrupt_tail=self.truncate_corrupt_tail)
        if r.torn is not None:
            log.warning("journal: %s", r.torn)
            r.reader.cut()
        r.reader.seal()  # the segment a crash left open (and format 1 ones): later starts check them by CRC
        if self._format < FORMAT:
            self._write_meta(read_meta(self.jdir))
        self.event_hash, self.last_seq = r.event_hash, r.last_seq
        restored = self._restore_gateway(server, r.names, r.owners, r.next_oid)
        self.last_ts = r.last_ts
        # command timestamps stay strictly increasing across the restart, whatever the wall clock did
        server.sequencer.resume_after(r.last_ts)
        self.writer = JournalWriter(self.jdir, self.last_seq + 1, self.fsync, self.batch_ms, self.segment_bytes)
        summary = (f"recovered {'snapshot ' + r.snapshot.name + ' + ' if r.snapshot else ''}{r.records} journal "
                   f"records ({r.commands} commands), {server.engine.seq} events, {len(restored)} live orders, "
                   f"journal at record {self.last_seq}")
        if upto is not None and upto < server.engine.seq:
            summary += f"; events {upto + 1}..{server.engine.seq} replayed into the chain batcher"
        cod = [rec for rec, c in restored if c]
        if cod:
            self._cancel(server, cod)
            summary += f"; canceled {len(cod)} orders of cancel-on-disconnect sessions"
        return summary

    def _restore_gateway(self, server, names: list, owners: Owners, next_oid: int) -> list:
        entry, fan = server.entry, server.fanout
        entry.restore_accounts(names)
        self.accounts_logged = len(names)
        by_id = entry.accounts.by_id
        restored = []
        live = live_orders(server.engine)
        owner = owners.resolve([o[0] for o in live])
        for oid, acct, sym, side, px, q in live:
            own = owner.get(oid)
            if own is None:
                raise JournalError(f"order {oid} rests on the book but no journal record entered it")
            account = by_id[acct]
            slot = fan.restore(oid, acct, sym, side, px, q, own[0])
            rec = new_order(oid, own[0], account, None, sym, side)
            rec[SLOT] = slot
            fan.recs[slot] = rec
            account.live[own[0]] = rec
            restored.append((rec, bool(own[1])))
            next_oid = max(next_oid, oid + 1)
        entry.next_oid = max(entry.next_oid, next_oid)
        entry.next_dep = int(server.engine.state.meta[M_DEP]) + 1  # deposit ids go on gapless (docs/balances.md 4)
        # a symbol's market data seq never exceeds the venue's event count: starting every symbol
        # above it is a forward jump, which subscribers see as a gap and resync from a snapshot
        if server.engine.seq:
            for md in (server.market_data.seq, server.market_data.l3_seq):
                if md is not None:
                    np.maximum(md, server.engine.seq + 1, out=md)
        server.market_data.sync_status(server.engine)
        return restored

    def _cancel(self, server, recs: list) -> None:
        # the sessions that asked for cancel-on-disconnect are gone with the old process
        for rec in recs:
            server.sequencer.cancel(None, None, C_COD, rec, R_DISCONNECT)
        server.run_batch()

    # ------------------------------------------------------------------ running

    def append(self, cmds: np.ndarray, meta: list | None = None) -> None:
        """Journal one batch before the engine runs it (durable on return with fsync always)."""
        by_id = self.server.entry.accounts.by_id
        first = self.accounts_logged
        new_names = [a.name for a in by_id[first:]] if len(by_id) > first else None
        cls, cod = None, b""
        if meta is not None:
            idx = np.flatnonzero(cmds["op"] == NEW).tolist()
            if idx:
                ms = [meta[i] for i in idx]
                cls = [m[4] for m in ms]
                cod = bytes([m[0].cod for m in ms])
        body = _pack([self.server.engine.seq + 1, self.event_hash, cmds.tobytes(), first, new_names, cls, cod])
        self._in_flight = True
        self.last_seq = self.writer.append(body)
        self.accounts_logged = len(by_id)
        self.since_snapshot += len(cmds)
        self.last_ts = int(cmds["ts"][-1])

    def handle(self, events: np.ndarray, first_seq: int) -> None:
        """Event sink: extend the running hash; snapshot when due (between batches, state consistent)."""
        self.event_hash = chain_hash(self.event_hash, events)
        self._in_flight = False
        if self._snapshot_due or (self.snapshot_every and self.since_snapshot >= self.snapshot_every):
            self.snapshot(background=True)

    def request_snapshot(self) -> None:
        """Snapshot after the next batch (safe from a signal handler: only sets a flag)."""
        self._snapshot_due = True

    def snapshot(self, background: bool = False) -> Path | None:
        """Snapshot the state after the last journal record; its path.

        background: copy the state (a few ms) and leave encoding, writing and fsync to a thread, so
        matching pauses for the copy only; None (try again after the next batch) while the previous
        snapshot is still being written."""
        if self._in_flight:
            raise JournalError(f"no snapshot while journal record {self.last_seq} has not finished its batch")
        if self._snapshotting is not None and self._snapshotting.is_alive():
            if background:
                return None
            self.wait_snapshot()
        server = self.server
        orders = [[rec[OID], rec[CL], bool(rec[SESSION].cod) if rec[SESSION] is not None else False]
                  for rec in server.fanout.recs if rec is not None]
        gw = {"accounts": [a.name for a in server.entry.accounts.by_id[:self.accounts_logged]],
              "next_oid": server.entry.next_oid, "last_ts": self.last_ts, "orders": orders}
        state = capture(server.engine.state) if background else server.engine.state
        snap = Snapshot(self.last_seq, server.engine.seq, self.event_hash,
                        [i.symbol for i in self.instruments], state, gw)
        self.since_snapshot = 0
        self._snapshot_due = False
        if not background:
            return self._write(snap)
        self._snapshotting = threading.Thread(target=self._write_reporting, args=(snap,), name="kabuto-snapshot")
        self._snapshotting.start()
        return self.sdir / snapshot_name(snap.journal_seq)

    def wait_snapshot(self) -> None:
        """Return once the snapshot being written in the background (if any) is on disk or failed."""
        if self._snapshotting is not None:
            self._snapshotting.join()

    def _write(self, snap: Snapshot) -> Path:
        self.writer.sync()  # never a snapshot ahead of the durable journal: a start would find records missing
        path = write_snapshot(self.sdir, snap)
        old = sorted(p for p in self.sdir.glob("*.snap") if p.stem.isdigit())
        for p in old[:-KEEP_SNAPSHOTS]:
            p.unlink(missing_ok=True)
        if self.prune_journal:
            self.prune()
        return path

    def prune(self) -> list[Path]:
        """Delete the journal segments no recovery can need any more; the paths deleted.

        A segment goes when all its records are covered by the oldest kept snapshot and that snapshot
        stands at or before the events every lagging sink (the chain batcher) has committed: recovery
        starts from it or a newer one. Failures are logged, not raised."""
        try:
            snaps = sorted(p for p in self.sdir.glob("*.snap") if p.stem.isdigit())
            if not snaps:
                return []
            oldest = snaps[0]
            committed = [s.committed_seq() for s in getattr(self.server, "sinks", ()) if hasattr(s, "committed_seq")]
            # recovery replays the events after min(committed) into such a sink, from the newest
            # snapshot at or before that point: none (a replay from record 1) when it is older than all
            if committed and snapshot_seq(oldest) > min(committed):
                return []
            upto = int(oldest.stem)
            segs = segments(self.jdir)
            current = self.writer.path if self.writer is not None else None
            gone: list[Path] = []
            try:
                # oldest first, so that an interruption leaves a journal that merely starts later;
                # the last segment's end is unknown (and it may be the one being appended to): kept
                for (_, path), (next_first, _) in zip(segs, segs[1:]):
                    if next_first - 1 > upto:
                        break
                    if path != current:
                        path.unlink()
                        gone.append(path)
            finally:
                if gone:
                    fsync_dir(self.jdir)
            return gone
        except (OSError, ValueError, msgpack.UnpackException) as e:
            log.error("journal pruning failed (the segments stay): %s", e)
            return []

    def _write_reporting(self, snap: Snapshot) -> None:
        # the journal holds everything a snapshot does: a failed one costs a longer replay, not data
        try:
            self._write(snap)
        except (JournalError, OSError) as e:
            log.error("snapshot at journal record %d failed: %s", snap.journal_seq, e)

    def close(self) -> None:
        """Snapshot (when anything was journaled since the last one) and close the journal; idempotent."""
        if self._closed or self.writer is None:
            return
        self._closed = True
        try:
            self.wait_snapshot()
            failed = self.writer.failed is not None  # a journal write failed: its error is on its way out
            if self._in_flight and not failed:
                log.warning("no shutdown snapshot: journal record %d did not finish its batch "
                            "(the next start replays the journal instead)", self.last_seq)
            elif not failed and self.since_snapshot and (self.snapshot_every or self._snapshot_due):
                self.snapshot()
        finally:
            self.writer.close()


# ---------------------------------------------------------------------- kabuto replay DIR

def replay_journal(args) -> int:
    """`kabuto replay DIR`: a journal directory (or data directory) through the engine, events out.

    Prints the events the venue produced, byte for byte, checking the running event hash of every
    record; `args` is the replay Namespace (orders, events, book_out, instruments)."""
    from kabuto.replay.accounts import Accounts
    from kabuto.replay.eventlog import Encoder, write_book
    jdir = journal_dir(Path(args.orders))
    meta = read_meta(jdir)
    instruments = load_instruments(args.instruments) if args.instruments else meta_instruments(meta)
    if instrument_specs(instruments) != meta.get("instruments"):
        raise JournalError(f"the journal in {jdir} was written with other instruments")
    text = None
    if args.instruments:
        try:
            text = Path(args.instruments).read_text()
        except OSError as e:
            raise JournalError(f"cannot read {args.instruments}: {e.strerror}") from None
    # the venue's risk setting, whatever the command line says (docs/balances.md 1)
    risk = meta_risk(meta, text)
    engine = Engine(instruments, risk=risk, fee_acct=0) if risk is not None else Engine(instruments)
    accounts = Accounts()
    encoder = Encoder(instruments, accounts, risk)
    try:
        out = open(args.events, "wb") if args.events else sys.stdout.buffer
    except OSError as e:
        raise JournalError(f"cannot write {args.events}: {e.strerror}") from None

    def write(events: np.ndarray, first: int, names: list) -> None:
        while len(accounts.names) < len(names):
            accounts.id(names[len(accounts.names)])
        out.write(encoder.encode_bytes(events, first))

    reader = JournalReader(jdir)
    try:
        apply_records(reader.scan(), engine, [], None, ZERO_HASH, write)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    if reader.torn is not None:
        log.warning("journal: %s (ignored)", reader.torn)
    if args.book_out:
        engine.accounts = accounts  # the account names of "@balances" (as kabuto replay of an order log does)
        write_book(args.book_out, engine, instruments, risk)
    return 0
