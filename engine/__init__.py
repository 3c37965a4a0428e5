"""Kabuto's matching core: instruments, fixed-width records, the numba kernel and the reference model."""
