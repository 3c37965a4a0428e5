"""The live dashboard: depth, trades, status and bands per instrument, and the chain's batches."""
