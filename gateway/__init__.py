"""The gateway: one FastAPI app that mounts every function's router; the CLI."""
