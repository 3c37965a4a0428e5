"""The venue core, transport-neutral: accounts and sessions, client order ids, entry checks, the sequencer."""
import kabuto.engine  # noqa: F401  (numba cache location, before any kernel is compiled)
