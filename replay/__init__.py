"""Order logs through the engine: Kabuto's JSON Lines format, event and book output, LOBSTER files."""
import kabuto.engine  # noqa: F401  (numba cache location, before any kernel is compiled)
