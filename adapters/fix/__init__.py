"""FIX 4.4 order entry over the ZeroMQ venue."""
