"""REST and WebSocket in the shape Binance made standard (ccxt, Hummingbot), over the ZeroMQ venue."""
