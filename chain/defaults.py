"""Where the chain layer keeps its files by default (a module light enough for the command line to import)."""

DEFAULT_DIR = "kabuto-data/chain"  # the embedded ledger, under the venue's data directory
