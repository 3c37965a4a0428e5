"""The venue's ZeroMQ/msgpack wire adapter: server, protocol, decoders, report and market data writers, SDK."""
import kabuto.engine  # noqa: F401  (numba cache location, before any kernel is compiled)
