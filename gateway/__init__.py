"""The venue: sessions, entry checks, sequencer, journal and recovery, the ZeroMQ/msgpack wire, the client SDK."""
import engine  # noqa: F401  (numba cache location, before any kernel is compiled)
