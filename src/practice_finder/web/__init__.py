"""Layer 6, the web edge: the Litestar app, JSON API, pages, keys, problem details, metrics, logs, and the serving state."""
