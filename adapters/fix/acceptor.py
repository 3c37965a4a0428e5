"""The `kabuto fix` process: a FIX 4.4 acceptor on TCP in one thread (a zmq.Poller over the client sockets and the
venue sessions), never blocking on one session; each FIX session trades through its own venue session."""
from __future__ import annotations

import errno
import hmac
import logging
import socket
import time
from pathlib import Path

import zmq
from kabuto.adapters.fix import codec as F
from kabuto.adapters.fix.app import OrderEntry
from kabuto.adapters.fix.errors import ConfigError
from kabuto.adapters.fix.session import Session
from kabuto.adapters.fix.store import SessionStore
from kabuto.adapters.fix.users import FixUser
from kabuto.gateway.client import Client, venue_info
from kabuto.gateway.errors import ClientError
from kabuto.gateway.keys import add_client, client_credentials, keys_dir

log = logging.getLogger(__name__)

LOGON_TIMEOUT = 10.0  # seconds a new connection has to send its Logon
TICK = 0.1  # seconds between timer checks (heartbeats, test requests, venue heartbeats)
MAX_HEARTBEAT = 3600
MAX_OUTPUT = 64 << 20  # bytes queued for a connection that does not read; beyond that it is closed


class Connection:
    """One TCP connection: bytes in through a Framer, bytes out through a buffer the acceptor flushes."""

    def __init__(self, sock: socket.socket, peer: str):
        self.sock = sock
        self.peer = peer
        self.fd = sock.fileno()
        self.framer = F.Framer()
        self.out = bytearray()
        self.session: Session | None = None
        self.opened = time.monotonic()
        self.closing = False   # close once the output is flushed
        self.closed = False
        self.held: list[bytes] = []  # messages after the Logon, while the venue logon is pending

    def write(self, data: bytes) -> None:
        """Queue bytes to send (the acceptor flushes after syncing the session stores)."""
        if not self.closed:
            self.out += data

    def close(self) -> None:
        """Close once what is queued has been sent."""
        self.closing = True


class Acceptor:
    """Accepts FIX connections, authenticates their Logon against the users file, runs their sessions."""

    def __init__(self, *, host: str, port: int, comp_id: str, users: dict[str, FixUser], store_dir: Path,
                 data_dir: Path, key_file: Path | None = None):
        self.comp_id = comp_id
        self.users = users
        self.store_dir = Path(store_dir)
        self.data_dir = Path(data_dir)
        self.key_file = Path(key_file) if key_file is not None else self.data_dir / "clients.toml"
        self.info = venue_info(self.data_dir)
        self.ctx = zmq.Context()
        try:
            self.listener = socket.create_server((host, port), backlog=128)
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}") from None
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()[:2]
        self.poller = zmq.Poller()
        self.poller.register(self.listener.fileno(), zmq.POLLIN)
        self.conns: dict[int, Connection] = {}
        self.sessions: dict[str, Session] = {}
        self.venue_socks: dict[zmq.Socket, Session] = {}
        self.waiting: dict[str, tuple[Connection, F.Message]] = {}  # Logons waiting for their venue session
        self.stopping = False

    # ------------------------------------------------------------------ loop

    def serve_forever(self) -> None:
        """Run until stop() is called (from a signal handler); then log every session out."""
        next_tick = time.monotonic()
        while not self.stopping:
            for key, ev in self.poller.poll(int(TICK * 1000)):
                if key == self.listener.fileno():
                    self._accept()
                elif isinstance(key, zmq.Socket):
                    session = self.venue_socks.get(key)
                    if session is None:
                        continue  # forgotten earlier in this turn
                    try:
                        self._venue(session)
                    except Exception:  # a bug must cost one session, never the others
                        log.exception("%s: error while reading the venue", session.their_id)
                elif ev & zmq.POLLIN or ev & zmq.POLLERR:
                    conn = self.conns.get(key)
                    if conn is not None:
                        try:
                            self._read(conn)
                        except Exception:  # a bug must cost one connection, never the other sessions
                            log.exception("%s: error while reading: connection closed", conn.peer)
                            self._drop(conn)
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + TICK
                self._tick(now)
            self._flush()
        self._shutdown()

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler)."""
        self.stopping = True

    def _accept(self) -> None:
        while True:
            try:
                sock, peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("accept failed: %s", e)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, f"{peer[0]}:{peer[1]}")
            self.conns[conn.fd] = conn
            self.poller.register(conn.fd, zmq.POLLIN)

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return self._drop(conn)
        conn.framer.feed(data)
        while not conn.closed and not conn.closing:
            raw, garbled = conn.framer.next()
            if raw is None and garbled is None:
                break
            s = conn.session
            if s is None:
                if garbled is not None:  # the first message must be a readable Logon
                    log.info("%s: garbled input before Logon (%s): closed", conn.peer, garbled)
                    return self._drop(conn)
                self._logon(conn, raw)
            elif conn.held is not None and s.conn is conn and not s.active:
                if raw is not None:
                    conn.held.append(raw)  # the venue logon is pending
            elif s.conn is conn:
                if garbled is not None:
                    s.on_garbled(garbled)
                else:
                    s.on_raw(raw)

    def _logon(self, conn: Connection, raw: bytes) -> None:
        try:
            msg = F.parse(raw)
        except F.FieldError as e:
            log.info("%s: unreadable Logon (%s): closed", conn.peer, e.text)
            return self._drop(conn)
        if msg.msg_type != "A" or msg.get(F.BEGIN_STRING_TAG) != F.BEGIN_STRING:
            log.info("%s: first message not a FIX.4.4 Logon: closed", conn.peer)
            return self._drop(conn)
        why = self._check_logon(msg)
        user = self.users.get(msg.get(F.SENDER_COMP_ID))
        if why is None and user.sender_comp_id in self.sessions and self.sessions[user.sender_comp_id].conn is not None:
            why = "session already logged on"
        if why is not None:
            log.info("%s: Logon refused: %s", conn.peer, why)
            header = [(F.SENDER_COMP_ID, self.comp_id), (F.TARGET_COMP_ID, msg.get(F.SENDER_COMP_ID, "?")),
                      (F.MSG_SEQ_NUM, 1), (F.SENDING_TIME, F.utc_timestamp())]
            conn.write(F.encode("5", header, [(F.TEXT, why)]))
            conn.close()
            return
        session = self.sessions.get(user.sender_comp_id)
        if session is None:
            try:
                session = self._new_session(user)
            except (ClientError, ConfigError, OSError) as e:
                log.warning("%s: no venue session: %s", user.sender_comp_id, e)
                conn.write(F.encode("5", [(F.SENDER_COMP_ID, self.comp_id), (F.TARGET_COMP_ID, user.sender_comp_id),
                                          (F.MSG_SEQ_NUM, 1), (F.SENDING_TIME, F.utc_timestamp())],
                                    [(F.TEXT, "venue unavailable")]))
                conn.close()
                return
        conn.session = session
        session.attach(conn)
        if session.app.venue_ready:
            self._finish_logon(conn, msg)
        else:
            self.waiting[user.sender_comp_id] = (conn, msg)

    def _check_logon(self, msg: F.Message) -> str | None:
        """Why a Logon is refused, or None."""
        user = self.users.get(msg.get(F.SENDER_COMP_ID))
        if user is None or msg.get(F.TARGET_COMP_ID) != self.comp_id:
            return "unknown SenderCompID or TargetCompID"
        username, password = msg.get(F.USERNAME), msg.get(F.PASSWORD)
        if username != user.username or password is None or not hmac.compare_digest(
                password.encode(), user.password.encode()):
            return "bad Username (553) or Password (554)"
        seq, hb = msg.get(F.MSG_SEQ_NUM), msg.get(F.HEART_BT_INT)
        if seq is None or not seq.isdigit() or int(seq) < 1:
            return "MsgSeqNum (34) missing or not a positive number"
        if msg.get(F.ENCRYPT_METHOD) != "0":
            return "EncryptMethod (98) must be 0"
        if hb is None or not hb.isdigit() or not 1 <= int(hb) <= MAX_HEARTBEAT:
            return f"HeartBtInt (108) must be 1 to {MAX_HEARTBEAT}"
        if msg.get(F.RESET_SEQ_NUM_FLAG) == "Y" and int(seq) != 1:
            return "ResetSeqNumFlag (141) needs MsgSeqNum 1"
        if F.SENDING_TIME not in msg:
            return "SendingTime (52) missing"
        return None

    def _new_session(self, user: FixUser) -> Session:
        """The session's store and its venue session (key pair provisioned on first use)."""
        cred = None
        if self.info.get("secure"):
            if not (keys_dir(self.data_dir) / f"{user.account}.key_secret").exists():
                add_client(self.data_dir, self.key_file, user.account)
                log.info("created a key pair for account %s in %s", user.account, self.key_file)
            cred = client_credentials(self.data_dir, user.account, self.info["server_key"].encode())
        client = Client(self.info["orders"], credentials=cred, account=user.account, cod=user.cod,
                        heartbeat=0.5, context=self.ctx, logon=False, via="fix")
        session = Session(user, self.comp_id, SessionStore(self.store_dir, user.sender_comp_id, self.comp_id))
        session.app = OrderEntry(session, client)
        session.app.venue_logon()
        self.sessions[user.sender_comp_id] = session
        self.venue_socks[client.sock] = session
        self.poller.register(client.sock, zmq.POLLIN)
        return session

    def _finish_logon(self, conn: Connection, msg: F.Message) -> None:
        session = conn.session
        if session.conn is not conn:
            return
        held, conn.held = conn.held, None
        session.accept_logon(msg)
        for raw in held:
            if session.conn is conn:
                session.on_raw(raw)

    def _venue(self, session: Session) -> None:
        try:
            outcome = session.app.on_venue()
        except ClientError as e:  # the venue refused the key
            outcome = f"refused: {e}"
        if outcome is None:
            return
        waiting = self.waiting.pop(session.their_id, None)
        if outcome == "ready":
            if waiting is not None:
                self._finish_logon(*waiting)
            return
        log.warning("%s: venue logon %s", session.their_id, outcome)
        if waiting is None and session.conn is not None:
            session.logout(f"venue {outcome}", close=True)
        self._forget_session(session)
        if waiting is not None:
            conn = waiting[0]
            conn.write(F.encode("5", [(F.SENDER_COMP_ID, self.comp_id), (F.TARGET_COMP_ID, session.their_id),
                                      (F.MSG_SEQ_NUM, 1), (F.SENDING_TIME, F.utc_timestamp())],
                                [(F.TEXT, "venue " + outcome)]))
            conn.close()

    def _forget_session(self, session: Session) -> None:
        self.sessions.pop(session.their_id, None)
        self.venue_socks.pop(session.app.client.sock, None)
        self.poller.unregister(session.app.client.sock)
        session.conn = None
        session.app.client.close(logout=False)
        session.store.close()

    def _tick(self, now: float) -> None:
        for conn in list(self.conns.values()):
            if conn.session is None and now - conn.opened > LOGON_TIMEOUT:
                log.info("%s: no Logon within %ss: closed", conn.peer, LOGON_TIMEOUT)
                self._drop(conn)
        for conn, _ in list(self.waiting.values()):
            if now - conn.opened > LOGON_TIMEOUT:
                session = conn.session
                log.warning("%s: no answer to the venue logon within %ss", session.their_id, LOGON_TIMEOUT)
                self.waiting.pop(session.their_id, None)
                self._forget_session(session)
                conn.write(F.encode("5", [(F.SENDER_COMP_ID, self.comp_id), (F.TARGET_COMP_ID, session.their_id),
                                          (F.MSG_SEQ_NUM, 1), (F.SENDING_TIME, F.utc_timestamp())],
                                    [(F.TEXT, "venue unavailable")]))
                conn.close()
        for session in list(self.sessions.values()):
            try:
                session.tick(now)
                if session.app.venue_ready:
                    self._venue(session)  # heartbeats the venue session (and handles what that read)
            except Exception:  # a bug must cost one session, never the others
                log.exception("%s: error in the session's timers", session.their_id)

    def _flush(self) -> None:
        for session in self.sessions.values():
            session.store.sync()  # durable before any byte of it leaves
        for conn in list(self.conns.values()):
            if conn.out:
                try:
                    n = conn.sock.send(conn.out)
                    del conn.out[:n]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    if e.errno not in (errno.EAGAIN,):
                        self._drop(conn)
                        continue
                if len(conn.out) > MAX_OUTPUT:
                    log.warning("%s: not reading: closed", conn.peer)
                    self._drop(conn)
                    continue
                self.poller.modify(conn.fd, zmq.POLLIN | (zmq.POLLOUT if conn.out else 0))
            if conn.closing and not conn.out:
                self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.conns.pop(conn.fd, None)
        self.poller.unregister(conn.fd)
        conn.sock.close()
        s = conn.session
        if s is not None and s.conn is conn:
            self.waiting.pop(s.their_id, None)
            s.disconnect()

    def _shutdown(self) -> None:
        for session in self.sessions.values():
            if session.conn is not None and session.active:
                session.logout("the acceptor is shutting down")
        self._flush()
        for conn in list(self.conns.values()):
            try:
                conn.sock.setblocking(True)
                conn.sock.settimeout(1.0)
                conn.sock.sendall(conn.out)
            except OSError:
                pass
            self._drop(conn)
        for session in self.sessions.values():
            session.app.close()
            session.store.close()
        self.listener.close()
        self.ctx.term()
