"""The venue's durability: the command journal, book snapshots and recovery from both."""
import kabuto.engine  # noqa: F401  (numba cache location, before any kernel is compiled)
