"""On-chain mapping: fill batches, Merkle trees and proofs, the FillRegistry contract, ledger and EVM publishers."""
