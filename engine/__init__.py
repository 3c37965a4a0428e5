"""Kabuto's matching core: instruments, fixed-width records, the numba kernel and the reference model."""
from kabuto.engine.numba_cache import use_writable_cache

use_writable_cache()
