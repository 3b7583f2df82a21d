"""One module per command; each exposes `run(args) -> int` and imports what it needs lazily."""
