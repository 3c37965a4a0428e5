"""On-chain mapping: fill batches, Merkle trees and proofs, the FillRegistry contract, ledger and EVM publishers."""
import kabuto.engine  # noqa: F401,E402  (numba cache location, before any kernel is compiled)
